package batch

import (
	"context"
	"fmt"
)

// List calls fn with each page of the customer's invitations whose state
// is one of states (all when empty). Every page is a request of its own
// through Do: it waits for the shared pacer, a failure of that page is
// retried from the page's own token (the pages already read are not read
// again), and it counts as one list request. An error from fn stops the
// listing and is returned unchanged.
func (c *Caller) List(ctx context.Context, api API, states []State, fn func(page []Invitation) error) error {
	token := ""
	for {
		var page []Invitation
		var next string
		err := c.Do(ctx, MethodList, func(ctx context.Context) error {
			var err error
			page, next, err = api.List(ctx, states, token)
			return err
		}, nil)
		if err != nil {
			return err
		}
		if err := fn(page); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		if next == token {
			// A server that hands back the token it was given would be
			// listed forever.
			return &APIError{Kind: KindPermanent, Code: 200, Msg: fmt.Sprintf("%s: the server returned the same page token again", MethodList)}
		}
		token = next
	}
}
