package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// invitationJSON is a UserInvitation on the wire. Like every proto3 JSON
// reply, zero fields are left out.
type invitationJSON struct {
	Name           string `json:"name"`
	State          string `json:"state,omitempty"`
	MailsSentCount int64  `json:"mailsSentCount,omitempty,string"`
	UpdateTime     string `json:"updateTime,omitempty"`
}

type operationJSON struct {
	Name     string       `json:"name"`
	Done     bool         `json:"done"`
	Response responseJSON `json:"response"`
}

// failedOperationJSON is an Operation that is done with an error.
type failedOperationJSON struct {
	Name  string     `json:"name"`
	Done  bool       `json:"done"`
	Error statusJSON `json:"error"`
}

// statusJSON is a google.rpc.Status.
type statusJSON struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// failedOperation turns the Operation of a performed send into one done
// with RESOURCE_EXHAUSTED (AmbiguousOperation).
func failedOperation(reply any) failedOperationJSON {
	op, _ := reply.(operationJSON)
	return failedOperationJSON{Name: op.Name, Done: true,
		Error: statusJSON{Code: 8, Message: "Resource has been exhausted (e.g. check quota)."}}
}

type responseJSON struct {
	Type string `json:"@type"`
	invitationJSON
}

// serveMethod checks the customer, the resource name and the body, then
// performs the method. It returns the reply or the error to send.
func (e *Emulator) serveMethod(r *http.Request, rt route, body []byte) (any, *apiError) {
	customer, ok := e.customerID(rt.customer)
	if !ok {
		return nil, fatalErrors[FatalPermissionDenied]
	}
	if rt.method == MethodList {
		return e.list(r, customer)
	}
	email, err := url.PathUnescape(rt.name)
	if err != nil || !validEmail(email) {
		return nil, invalidArgument(fmt.Sprintf("Invalid resource name %q.", "customers/"+rt.customer+"/userinvitations/"+rt.name))
	}
	email = strings.ToLower(email)
	if rt.method == MethodSend || rt.method == MethodCancel {
		if err := emptyBody(body); err != nil {
			return nil, err
		}
	}
	name := "customers/" + customer + "/userinvitations/" + email
	profile, readOnly := e.strictKnobs()

	var refusal Refusal
	if rt.method == MethodSend {
		refusal = e.refusalMode() // knobMu before, never inside, mu
	}
	e.mu.Lock()
	a, _ := e.account(email)
	if err := e.strictRefusal(profile, readOnly, rt.method, email, a); err != nil {
		e.mu.Unlock()
		return nil, err
	}
	switch rt.method {
	case MethodGet:
		a = e.lagged(email, a)
		vis := e.visible(email, a)
		e.mu.Unlock()
		if !vis {
			return nil, errNotFound
		}
		return a.json(name), nil
	case MethodIsInvitable:
		ok := e.invitable(email, a)
		e.mu.Unlock()
		return struct {
			IsInvitableUser bool `json:"isInvitableUser,omitempty"`
		}{ok}, nil
	case MethodSend:
		if !e.invitable(email, a) {
			e.mu.Unlock()
			if a.typ == typeIneligible && e.inDomain(email) {
				return nil, refused(refusal, email)
			}
			return nil, errPrecondition
		}
		if a.state == stInvited {
			e.resends++
		}
		e.remember(email, a)
		a.state, a.mails, a.updated = stInvited, a.mails+1, e.now().UnixNano()
		a.delivered++
		e.sends++
		if a.delivered > 1 {
			e.dupSends++
		}
	case MethodCancel:
		if a.state != stInvited || !e.inDomain(email) {
			e.mu.Unlock()
			return nil, errPrecondition
		}
		a.state, a.updated = stNotYetSent, e.now().UnixNano()
	}
	e.accounts[email] = a
	e.version++
	e.opSeq++
	op := operationJSON{
		Name: fmt.Sprintf("operations/userinvitations.%s.%d", rt.method, e.opSeq),
		Done: true,
		Response: responseJSON{
			Type:           "type.googleapis.com/google.apps.cloudidentity." + rt.version + ".UserInvitation",
			invitationJSON: a.json(name),
		},
	}
	e.mu.Unlock()
	return op, nil
}

func (a account) json(name string) invitationJSON {
	return invitationJSON{
		Name:           name,
		State:          a.state.String(),
		MailsSentCount: a.mails,
		UpdateTime:     timestampJSON(time.Unix(0, a.updated)),
	}
}

// customerID checks the customer of a request and returns the ID replies
// use. Case does not matter, as for the tool, which keeps one ledger per
// customer whatever its spelling (the reference says nothing of case).
func (e *Emulator) customerID(c string) (string, bool) {
	switch {
	case e.customer == "":
		return c, c != "" && !strings.ContainsAny(c, "/?#%\x00")
	case strings.EqualFold(c, e.customer) || strings.EqualFold(c, "my_customer"):
		return e.customer, true
	}
	return "", false
}

// emptyBody checks that a send or cancel body is empty or "{}": both
// request messages have no fields.
func emptyBody(b []byte) *apiError {
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return invalidArgument("Invalid JSON payload received.")
	}
	for k := range m {
		return invalidArgument(fmt.Sprintf("Invalid JSON payload received. Unknown name %q: Cannot find field.", k))
	}
	return nil
}
