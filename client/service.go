package client

import (
	"context"

	v1 "google.golang.org/api/cloudidentity/v1"
	v1beta1 "google.golang.org/api/cloudidentity/v1beta1"
)

// service is the per-version part of the client: one request per method,
// results in the v1 types (the v1beta1 types are field-identical).
type service interface {
	isInvitable(ctx context.Context, name string) (bool, error)
	get(ctx context.Context, name string) (*v1.UserInvitation, error)
	send(ctx context.Context, name string) (*v1.Operation, error)
	cancel(ctx context.Context, name string) (*v1.Operation, error)
	list(ctx context.Context, parent, filter, pageToken string) (*v1.ListUserInvitationsResponse, error)
	// probe lists one invitation of parent: the cheapest customer-wide read.
	probe(ctx context.Context, parent string) error
}

// pageSize is the largest page the API serves.
const pageSize = 200

type serviceV1 struct {
	r *v1.CustomersUserinvitationsService
}

func (s serviceV1) isInvitable(ctx context.Context, name string) (bool, error) {
	res, err := s.r.IsInvitableUser(name).Context(ctx).Do()
	if err != nil {
		return false, err
	}
	return res.IsInvitableUser, nil
}

func (s serviceV1) get(ctx context.Context, name string) (*v1.UserInvitation, error) {
	return s.r.Get(name).Context(ctx).Do()
}

func (s serviceV1) send(ctx context.Context, name string) (*v1.Operation, error) {
	return s.r.Send(name, &v1.SendUserInvitationRequest{}).Context(ctx).Do()
}

func (s serviceV1) cancel(ctx context.Context, name string) (*v1.Operation, error) {
	return s.r.Cancel(name, &v1.CancelUserInvitationRequest{}).Context(ctx).Do()
}

func (s serviceV1) list(ctx context.Context, parent, filter, pageToken string) (*v1.ListUserInvitationsResponse, error) {
	call := s.r.List(parent).PageSize(pageSize).Context(ctx)
	if filter != "" {
		call.Filter(filter)
	}
	if pageToken != "" {
		call.PageToken(pageToken)
	}
	return call.Do()
}

func (s serviceV1) probe(ctx context.Context, parent string) error {
	_, err := s.r.List(parent).PageSize(1).Context(ctx).Do()
	return err
}

type serviceV1beta1 struct {
	r *v1beta1.CustomersUserinvitationsService
}

func (s serviceV1beta1) isInvitable(ctx context.Context, name string) (bool, error) {
	res, err := s.r.IsInvitableUser(name).Context(ctx).Do()
	if err != nil {
		return false, err
	}
	return res.IsInvitableUser, nil
}

func (s serviceV1beta1) get(ctx context.Context, name string) (*v1.UserInvitation, error) {
	inv, err := s.r.Get(name).Context(ctx).Do()
	if err != nil {
		return nil, err
	}
	return (*v1.UserInvitation)(inv), nil
}

func (s serviceV1beta1) send(ctx context.Context, name string) (*v1.Operation, error) {
	op, err := s.r.Send(name, &v1beta1.SendUserInvitationRequest{}).Context(ctx).Do()
	return operationV1(op), err
}

func (s serviceV1beta1) cancel(ctx context.Context, name string) (*v1.Operation, error) {
	op, err := s.r.Cancel(name, &v1beta1.CancelUserInvitationRequest{}).Context(ctx).Do()
	return operationV1(op), err
}

func (s serviceV1beta1) list(ctx context.Context, parent, filter, pageToken string) (*v1.ListUserInvitationsResponse, error) {
	call := s.r.List(parent).PageSize(pageSize).Context(ctx)
	if filter != "" {
		call.Filter(filter)
	}
	if pageToken != "" {
		call.PageToken(pageToken)
	}
	res, err := call.Do()
	if err != nil {
		return nil, err
	}
	out := &v1.ListUserInvitationsResponse{
		NextPageToken:   res.NextPageToken,
		UserInvitations: make([]*v1.UserInvitation, len(res.UserInvitations)),
		ServerResponse:  res.ServerResponse,
	}
	for i, inv := range res.UserInvitations {
		out.UserInvitations[i] = (*v1.UserInvitation)(inv)
	}
	return out, nil
}

func (s serviceV1beta1) probe(ctx context.Context, parent string) error {
	_, err := s.r.List(parent).PageSize(1).Context(ctx).Do()
	return err
}

// operationV1 converts a v1beta1 Operation; only the Status pointer type
// differs.
func operationV1(op *v1beta1.Operation) *v1.Operation {
	if op == nil {
		return nil
	}
	return &v1.Operation{
		Done:           op.Done,
		Error:          (*v1.Status)(op.Error),
		Metadata:       op.Metadata,
		Name:           op.Name,
		Response:       op.Response,
		ServerResponse: op.ServerResponse,
	}
}
