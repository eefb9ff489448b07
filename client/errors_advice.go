package client

import (
	"strconv"
	"strings"
)

// gcloudProjects are the projects of gcloud's own OAuth clients: an API
// "disabled" in one of them means user credentials without a quota project.
var gcloudProjects = []string{"projects/764086051850", "projects/32555940559"}

// UserLogin is the command that gives user credentials (Application
// Default Credentials) the scope the tool needs.
const UserLogin = "gcloud auth application-default login --scopes=" + Scope + ",https://www.googleapis.com/auth/cloud-platform"

// forbiddenAdvice says what to fix for a 403 that is not a rate limit.
func forbiddenAdvice(f httpFailure, customer string) string {
	msg := strings.ToLower(f.message)
	consumer := f.metadata["consumer"]
	gcloudConsumer := containsAny(consumer, gcloudProjects)
	switch {
	case f.hasReason("USER_PROJECT_DENIED") && consumer != "" && !gcloudConsumer &&
		!strings.Contains(msg, "requires a quota project"):
		// A quota project is set, but the caller may not bill it.
		return "the quota project " + consumer + " refuses this caller: grant it roles/serviceusage.serviceUsageConsumer " +
			"on that project (gcloud projects add-iam-policy-binding PROJECT --member=user:YOU --role=roles/serviceusage.serviceUsageConsumer), " +
			"or pass --quota-project with a project where it has that role"
	case f.hasReason("USER_PROJECT_DENIED") || strings.Contains(msg, "quota project") ||
		(f.hasReason("SERVICE_DISABLED", "accessNotConfigured") && gcloudConsumer):
		return "user credentials need a quota project with the Cloud Identity API enabled: " +
			"run `gcloud auth application-default set-quota-project PROJECT` or pass --quota-project " +
			"(the caller needs roles/serviceusage.serviceUsageConsumer on it)"
	case f.hasReason("SERVICE_DISABLED", "accessNotConfigured") ||
		strings.Contains(msg, "has not been used in project") || strings.Contains(msg, "is disabled"):
		project := "the project"
		if consumer != "" {
			project = consumer
		}
		return "enable the Cloud Identity API in " + project +
			" (gcloud services enable cloudidentity.googleapis.com --project PROJECT)"
	case f.hasReason("ACCESS_TOKEN_SCOPE_INSUFFICIENT", "insufficientPermissions") ||
		strings.Contains(msg, "insufficient authentication scopes"):
		return "the token lacks the scope " + Scope + ": for a service account, add it to the " +
			"domain-wide delegation allow-list of its client ID (Admin console, Security, API controls); " +
			"for user credentials, log in again with `" + UserLogin + "`"
	}
	cust := "the customer ID"
	if customer != "" {
		cust = "the customer ID " + strconv.Quote(customer)
	}
	return "check that the acting user is a super administrator, that " + cust +
		" is the right one for that user's organization, and, for a service account, that its client ID " +
		"has domain-wide delegation of " + Scope + " and the admin is the subject"
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
