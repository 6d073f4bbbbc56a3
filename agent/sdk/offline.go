package sdk

import (
	"context"
	"net/http"
	"time"

	"github.com/tally-licensing/tally/agent/api"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/offline"
)

// Air-gapped devices (docs/agents.md#air-gapped-devices): the agent writes
// signed request and return files and installs the files an administrator
// brings back from a machine that reaches the cluster.

// OfflineEnrollRequest returns an enrollment request file for this
// (not yet enrolled) device; token "" uses the agent's own.
func (c *Client) OfflineEnrollRequest(ctx context.Context, token string) (*protocol.EnrollRequest, error) {
	var out protocol.EnrollRequest
	if err := c.do(ctx, http.MethodPost, api.PathOfflineEnrollRequest, api.OfflineEnrollRequest{EnrollToken: token}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// OfflineEnrollInstall installs the enrollment answer (tallyctl offline enroll).
func (c *Client) OfflineEnrollInstall(ctx context.Context, resp protocol.EnrollResponse) error {
	return c.do(ctx, http.MethodPost, api.PathOfflineEnrollInstall, resp, nil)
}

// OfflineRequest returns a signed request for a lease of feature kept for
// borrow, for tallyctl offline grant.
func (c *Client) OfflineRequest(ctx context.Context, feature string, borrow time.Duration) (string, error) {
	var out api.OfflineFile
	if err := c.do(ctx, http.MethodPost, api.PathOfflineRequest, api.OfflineLeaseRequest{Feature: feature, Borrow: protocol.Duration(borrow)}, &out); err != nil {
		return "", err
	}
	return out.File, nil
}

// OfflineInstall installs a lease file (tallyctl offline grant's answer);
// the agent serves it to checkouts until it ends.
func (c *Client) OfflineInstall(ctx context.Context, f offline.LeaseFile) (*Lease, error) {
	var out api.LeaseResponse
	if err := c.do(ctx, http.MethodPost, api.PathOfflineInstall, f, &out); err != nil {
		return nil, err
	}
	return &out.Lease, nil
}

// OfflineReturn stops using the offline lease of feature and returns the
// signed return file for tallyctl offline return.
func (c *Client) OfflineReturn(ctx context.Context, feature string) (string, error) {
	var out api.OfflineFile
	if err := c.do(ctx, http.MethodPost, api.PathOfflineReturn, api.OfflineReturnRequest{Feature: feature}, &out); err != nil {
		return "", err
	}
	return out.File, nil
}
