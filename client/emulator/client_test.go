package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	v1 "google.golang.org/api/cloudidentity/v1"
	v1beta1 "google.golang.org/api/cloudidentity/v1beta1"
)

const testCustomer = "C0123abc"

// inv is a UserInvitation of either API version.
type inv struct {
	Name    string
	State   string
	Mails   int64
	Updated string
}

// page is a list reply of either API version.
type page struct {
	Invs  []inv
	Token string
}

// api is the same calls through the generated v1 or v1beta1 client.
type api interface {
	get(email string) (inv, error)
	invitable(email string) (bool, error)
	send(email string) (inv, string, error) // the invitation and the response @type
	cancel(email string) (inv, string, error)
	list(filter, order string, size int64, token string) (page, error)
}

// newServer serves e and returns clients of both versions.
func newServer(t *testing.T, e *Emulator) (srv *httptest.Server, apis map[string]api) {
	t.Helper()
	srv = httptest.NewServer(e)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	opts := []option.ClientOption{option.WithEndpoint(srv.URL + "/"), option.WithoutAuthentication()}
	s1, err := v1.NewService(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := v1beta1.NewService(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, map[string]api{"v1": v1API{s1.Customers.Userinvitations}, "v1beta1": v1beta1API{sb.Customers.Userinvitations}}
}

func name(email string) string { return "customers/" + testCustomer + "/userinvitations/" + email }

// opResponse decodes the invitation and @type of an Operation's response.
func opResponse(done bool, raw []byte, err error) (inv, string, error) {
	if err != nil {
		return inv{}, "", err
	}
	if !done {
		return inv{}, "", errors.New("operation not done")
	}
	var r struct {
		Type           string `json:"@type"`
		Name           string `json:"name"`
		State          string `json:"state"`
		MailsSentCount int64  `json:"mailsSentCount,string"`
		UpdateTime     string `json:"updateTime"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return inv{}, "", err
	}
	return inv{r.Name, r.State, r.MailsSentCount, r.UpdateTime}, r.Type, nil
}

type v1API struct {
	s *v1.CustomersUserinvitationsService
}

func (a v1API) get(email string) (inv, error) {
	r, err := a.s.Get(name(email)).Do()
	if err != nil {
		return inv{}, err
	}
	return inv{r.Name, r.State, r.MailsSentCount, r.UpdateTime}, nil
}

func (a v1API) invitable(email string) (bool, error) {
	r, err := a.s.IsInvitableUser(name(email)).Do()
	if err != nil {
		return false, err
	}
	return r.IsInvitableUser, nil
}

func (a v1API) send(email string) (inv, string, error) {
	op, err := a.s.Send(name(email), &v1.SendUserInvitationRequest{}).Do()
	if err != nil {
		return opResponse(false, nil, err)
	}
	return opResponse(op.Done, op.Response, nil)
}

func (a v1API) cancel(email string) (inv, string, error) {
	op, err := a.s.Cancel(name(email), &v1.CancelUserInvitationRequest{}).Do()
	if err != nil {
		return opResponse(false, nil, err)
	}
	return opResponse(op.Done, op.Response, nil)
}

func (a v1API) list(filter, order string, size int64, token string) (page, error) {
	c := a.s.List("customers/" + testCustomer).Filter(filter).OrderBy(order).PageToken(token)
	if size != 0 {
		c.PageSize(size)
	}
	r, err := c.Do()
	if err != nil {
		return page{}, err
	}
	p := page{Token: r.NextPageToken}
	for _, u := range r.UserInvitations {
		p.Invs = append(p.Invs, inv{u.Name, u.State, u.MailsSentCount, u.UpdateTime})
	}
	return p, nil
}

type v1beta1API struct {
	s *v1beta1.CustomersUserinvitationsService
}

func (a v1beta1API) get(email string) (inv, error) {
	r, err := a.s.Get(name(email)).Do()
	if err != nil {
		return inv{}, err
	}
	return inv{r.Name, r.State, r.MailsSentCount, r.UpdateTime}, nil
}

func (a v1beta1API) invitable(email string) (bool, error) {
	r, err := a.s.IsInvitableUser(name(email)).Do()
	if err != nil {
		return false, err
	}
	return r.IsInvitableUser, nil
}

func (a v1beta1API) send(email string) (inv, string, error) {
	op, err := a.s.Send(name(email), &v1beta1.SendUserInvitationRequest{}).Do()
	if err != nil {
		return opResponse(false, nil, err)
	}
	return opResponse(op.Done, op.Response, nil)
}

func (a v1beta1API) cancel(email string) (inv, string, error) {
	op, err := a.s.Cancel(name(email), &v1beta1.CancelUserInvitationRequest{}).Do()
	if err != nil {
		return opResponse(false, nil, err)
	}
	return opResponse(op.Done, op.Response, nil)
}

func (a v1beta1API) list(filter, order string, size int64, token string) (page, error) {
	c := a.s.List("customers/" + testCustomer).Filter(filter).OrderBy(order).PageToken(token)
	if size != 0 {
		c.PageSize(size)
	}
	r, err := c.Do()
	if err != nil {
		return page{}, err
	}
	p := page{Token: r.NextPageToken}
	for _, u := range r.UserInvitations {
		p.Invs = append(p.Invs, inv{u.Name, u.State, u.MailsSentCount, u.UpdateTime})
	}
	return p, nil
}

// httpCode returns the HTTP code of a client error: 200 for nil, -1 for an
// error without one (a dropped connection).
func httpCode(err error) int {
	if err == nil {
		return 200
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return -1
}
