package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/batch/input"
	"github.com/invitebatch/invitebatch/client"
)

// doctorOptions are the flags of `invitebatch doctor`: run's credential
// and endpoint flags, so that the same settings are checked.
type doctorOptions struct {
	apiFlags
	address string
	timeout time.Duration
}

func parseDoctorFlags(e env, args []string) (*doctorOptions, error) {
	o := &doctorOptions{apiFlags: apiFlags{qps: defaultQPS}}
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	o.registerClient(fs, e.getenv)
	fs.StringVar(&o.address, "address", "", "also ask isInvitableUser about this `email` (read-only; nothing is sent)")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "give up on the checks after this long")
	pos, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(e.stdout, "Usage: invitebatch doctor --customer C0xxxxxxx [flags]\n\n"+
			"Checks the credentials and the API setup with read-only calls; never sends an invitation.\n\n%s", flagUsage(fs))
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) != 0:
		return nil, usagef("doctor: unexpected arguments %q", pos)
	case o.timeout <= 0:
		return nil, usagef("doctor: --timeout must be > 0")
	}
	if err := o.check("doctor", e); err != nil {
		return nil, err
	}
	if o.address != "" {
		a, err := input.Address(o.address)
		if err != nil {
			return nil, usagef("doctor: --address %q: %v", o.address, err)
		}
		o.address = a
	}
	return o, nil
}

// Verdicts of the checks.
const (
	verdictOK      = "OK"
	verdictProblem = "PROBLEM"
	verdictSkipped = "SKIPPED"
)

// check is the verdict on one concern.
type check struct {
	name, verdict, detail string
}

func doctorCommand(e env, args []string) (int, error) {
	o, err := parseDoctorFlags(e, args)
	if err != nil {
		return exitUsage, err
	}
	ctx, cancel := context.WithTimeout(e.ctx, o.timeout)
	defer cancel()
	checks := o.diagnose(ctx, e)
	if err := e.ctx.Err(); err != nil {
		return exitStopped, err
	}
	problems := 0
	for _, c := range checks {
		fmt.Fprintf(e.stdout, "%-14s %s", c.name+":", c.verdict)
		if c.detail != "" {
			fmt.Fprintf(e.stdout, ": %s", c.detail)
		}
		fmt.Fprintln(e.stdout)
		if c.verdict == verdictProblem {
			problems++
		}
	}
	if problems > 0 {
		fmt.Fprintf(e.stdout, "doctor: %d problem(s) found; fix them, then run doctor again\n", problems)
		return exitAttention, nil
	}
	fmt.Fprintln(e.stdout, "doctor: all OK")
	return exitOK, nil
}

// diagnose runs the checks in order; each needs the ones before it.
// Requests made: one list (first page only) and, with --address, one
// isInvitableUser. Neither changes anything.
func (o *doctorOptions) diagnose(ctx context.Context, e env) []check {
	cfg := o.config()
	cfg.UserAgent += " doctor"
	where := endpointName(cfg)
	emu := cfg.Emulator != ""
	if emu {
		fmt.Fprintf(e.stderr, "*** EMULATOR: checking %s, not Google ***\n", where)
	}
	var checks []check
	add := func(name, verdict, detail string) { checks = append(checks, check{name, verdict, detail}) }
	skipRest := func(why string, names ...string) []check {
		for _, n := range names {
			add(n, verdictSkipped, why)
		}
		return checks
	}

	// 1. Credentials: found, and whom they act as.
	api, err := client.New(ctx, cfg)
	if err != nil {
		add("credentials", verdictProblem, strings.TrimPrefix(err.Error(), "client: ")+"; "+credentialsAdvice)
		return skipRest("needs credentials", "token", "quota project", "api", "customer", "address")
	}
	add("credentials", verdictOK, api.Principal())

	// 2. The quota project, as far as it can be known before a request.
	quota := o.quotaProject(api.Principal(), e.getenv)

	// 3. One list request, first page only: it needs a token (with the
	// scope; for domain-wide delegation, the subject accepted), the quota
	// project, the API enabled and the customer's permission.
	n, err := listFirstPage(ctx, api)
	if ctx.Err() != nil {
		add("token", verdictProblem, fmt.Sprintf("no answer from %s within --timeout %s", where, o.timeout))
		return skipRest("no answer", "quota project", "api", "customer", "address")
	}
	token := check{"token", verdictOK, "obtained with the scope " + client.Scope}
	if o.impersonateUser != "" {
		token.detail += "; domain-wide delegation as " + o.impersonateUser + " accepted"
	}
	if emu {
		token.detail = "none needed (emulator)"
	}
	var ae *batch.APIError
	if err != nil && !errors.As(err, &ae) {
		ae = &batch.APIError{Kind: batch.KindFatal, Msg: err.Error()}
	}
	switch {
	case err == nil:
	case ae.Code == http.StatusUnauthorized:
		add("token", verdictProblem, unauthenticatedAdvice(ae, emu))
		return skipRest("needs a token", "quota project", "api", "customer", "address")
	case tokenFailure(ae):
		add("token", verdictProblem, tokenAdvice(ae))
		return skipRest("needs a token", "quota project", "api", "customer", "address")
	case ae.Code == 0:
		// The token was had; the API could not be reached.
		checks = append(checks, token, quota)
		add("api", verdictProblem, fmt.Sprintf("cannot reach %s: %s; check --endpoint, the network and proxies", where, ae.Msg))
		return skipRest("needs the API", "customer", "address")
	case ae.Code == http.StatusForbidden && (ae.Reason == "USER_PROJECT_DENIED" || strings.Contains(ae.Msg, "quota project")):
		checks = append(checks, token)
		add("quota project", verdictProblem, ae.Msg)
		return skipRest("needs a quota project", "api", "customer", "address")
	case ae.Code == http.StatusForbidden && (ae.Reason == "ACCESS_TOKEN_SCOPE_INSUFFICIENT" || strings.Contains(ae.Msg, "lacks the scope")):
		add("token", verdictProblem, ae.Msg)
		return skipRest("needs the scope", "quota project", "api", "customer", "address")
	case ae.Code == http.StatusForbidden && (ae.Reason == "SERVICE_DISABLED" || strings.Contains(ae.Msg, "enable the Cloud Identity API")):
		checks = append(checks, token, quota)
		add("api", verdictProblem, ae.Msg)
		return skipRest("needs the API enabled", "customer", "address")
	case ae.Code == http.StatusForbidden, ae.Code == http.StatusBadRequest:
		// The API answered for itself: it is enabled, and this caller may
		// not manage this customer's invitations.
		checks = append(checks, token, quota)
		add("api", verdictOK, "the Cloud Identity API "+o.api+" answers at "+where)
		add("customer", verdictProblem, ae.Msg)
		return skipRest("needs the customer", "address")
	default:
		checks = append(checks, token, quota)
		advice := "the service failed; try again later"
		if ae.Code == http.StatusNotFound {
			advice = "no such method there: check --endpoint and --api"
		}
		add("api", verdictProblem, ae.Msg+"; "+advice)
		return skipRest("needs the API", "customer", "address")
	}
	checks = append(checks, token, quota)
	add("api", verdictOK, "the Cloud Identity API "+o.api+" answers at "+where)
	add("customer", verdictOK, fmt.Sprintf("%s: this principal may list its invitations (%d on the first page of up to 200)", o.customer, n))

	// 4. Optionally, isInvitableUser on one address.
	if o.address == "" {
		add("address", verdictSkipped, "give --address EMAIL to ask isInvitableUser about one address")
		return checks
	}
	ok, err := api.IsInvitable(ctx, o.address)
	switch {
	case err != nil:
		add("address", verdictProblem, "isInvitableUser: "+err.Error())
	case ok:
		add("address", verdictOK, o.address+" is invitable (an unmanaged account in the customer's domains)")
	default:
		add("address", verdictOK, o.address+" is not invitable (managed, no Google account, or outside the customer's domains)")
	}
	return checks
}

const credentialsAdvice = "pass --credentials FILE (a service-account key or user credentials), set " +
	"GOOGLE_APPLICATION_CREDENTIALS, or run `" + client.UserLogin + "` (see README, Authentication and setup)"

// listFirstPage makes one list request and returns how many invitations its
// page held. Retryable failures (429, 5xx, a dropped connection) are tried
// again a few times, as a run would.
func listFirstPage(ctx context.Context, api *client.Client) (int, error) {
	var err error
	for attempt := range 3 {
		var page []batch.Invitation
		page, _, err = api.List(ctx, nil, "")
		if err == nil {
			return len(page), nil
		}
		var ae *batch.APIError
		if !errors.As(err, &ae) || ae.Kind != batch.KindRetryable {
			return 0, err
		}
		wait := max(ae.RetryAfter, time.Second<<attempt)
		t := time.NewTimer(min(wait, 10*time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
	}
	return 0, err
}

// tokenFailure reports whether ae is a failure to get an access token
// rather than an answer of the API. It relies on the messages of
// client.classifyToken: the client has no predicate for it (yet).
func tokenFailure(ae *batch.APIError) bool {
	_, msg, _ := strings.Cut(ae.Msg, ": ")
	for _, p := range []string{"token endpoint", "credentials refused by the token endpoint", "cannot get an access token"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// tokenAdvice says what to fix when the token endpoint refused.
func tokenAdvice(ae *batch.APIError) string {
	switch ae.Reason {
	case "unauthorized_client":
		return "the token endpoint answered unauthorized_client: the scope " + client.Scope +
			" is missing from the domain-wide delegation allow-list of this service account's client ID, or the client ID " +
			"entered there is not this service account's (Admin console, Security, API controls, Domain-wide delegation)"
	case "invalid_grant":
		return "the token endpoint answered invalid_grant: --impersonate-user is not an existing user of the domain, " +
			"the key was deleted or disabled, the machine's clock is off, or user credentials expired or were revoked " +
			"(run `" + client.UserLogin + "` again)"
	}
	return ae.Msg
}

// unauthenticatedAdvice explains a 401 from the API itself.
func unauthenticatedAdvice(ae *batch.APIError, emu bool) string {
	if emu {
		return ae.Msg + "; the endpoint wants a bearer token, and CLOUDIDENTITY_EMULATOR_HOST sends none: " +
			"unset it and use --endpoint URL with credentials"
	}
	return ae.Msg + "; the API refused the access token: the credentials were revoked or expired (log in again, " +
		"or check that the key still exists)"
}

// quotaProject judges the quota project before any request: user
// credentials need one (else 403 USER_PROJECT_DENIED); a service account
// is billed to its own project.
func (o *doctorOptions) quotaProject(principal string, getenv func(string) string) check {
	c := check{name: "quota project", verdict: verdictOK}
	switch {
	case o.emulatorHost != "":
		c.detail = "none needed (emulator)"
	case o.quotaProj != "":
		c.detail = o.quotaProj + " (--quota-project)"
	case getenv("GOOGLE_CLOUD_QUOTA_PROJECT") != "":
		c.detail = getenv("GOOGLE_CLOUD_QUOTA_PROJECT") + " ($GOOGLE_CLOUD_QUOTA_PROJECT)"
	case !strings.HasPrefix(principal, "user credentials"):
		c.detail = "none needed: a service account is billed to its own project"
	default:
		file := o.credentialsFile(getenv)
		if p := quotaProjectOf(file); p != "" {
			c.detail = p + " (quota_project_id of " + file + ")"
			break
		}
		c.verdict = verdictProblem
		c.detail = "user credentials need a quota project with the Cloud Identity API enabled: run " +
			"`gcloud auth application-default set-quota-project PROJECT` or pass --quota-project PROJECT"
	}
	return c
}

// credentialsFile is the file Application Default Credentials read, as far
// as doctor can tell: --credentials, $GOOGLE_APPLICATION_CREDENTIALS, or
// gcloud's well-known file.
func (o *doctorOptions) credentialsFile(getenv func(string) string) string {
	if o.credentials != "" {
		return o.credentials
	}
	if f := getenv("GOOGLE_APPLICATION_CREDENTIALS"); f != "" {
		return f
	}
	dir := getenv("CLOUDSDK_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config", "gcloud")
	}
	return filepath.Join(dir, "application_default_credentials.json")
}

// quotaProjectOf reads quota_project_id from a credentials file, "" if it
// has none or cannot be read.
func quotaProjectOf(file string) string {
	if file == "" {
		return ""
	}
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	var v struct {
		QuotaProjectID string `json:"quota_project_id"`
	}
	if json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&v) != nil {
		return ""
	}
	return v.QuotaProjectID
}
