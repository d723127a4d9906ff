// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/go-resty/resty/v2"

	"github.com/nodeallow/nodeallow/api/protocol"
)

// DeliveryReader asks a Salt master what the minions subscribed to an allowlist applied.
type DeliveryReader interface {
	// ReadDelivery calls the runner nodeallow.status through salt-api for one allowlist and returns its
	// entry; found is false when the master knows nothing of it.
	ReadDelivery(ctx context.Context, to Endpoint, cluster, allowlist string) (entry protocol.StatusEntry, found bool, err error)
}

var _ DeliveryReader = (*SaltAPI)(nil)

// statusACLHint says what the master needs for the controller's user to run the status runner.
const statusACLHint = `add "- '@runner': ['^nodeallow\\.status$']" to the user's external_auth entry and "runner" to netapi_enable_clients (docs/salt.md#master-configuration)`

// ReadDelivery posts one runner lowstate to salt-api's root URL as the endpoint's user, logging in
// again once when the cached token is refused. A second refusal means the user may not run the
// runner, which the error says how to allow.
func (p *SaltAPI) ReadDelivery(ctx context.Context, to Endpoint, cluster, allowlist string) (protocol.StatusEntry, bool, error) {
	ep, err := resolveBase(to)
	if err != nil {
		return protocol.StatusEntry{}, false, err
	}
	if to.Credentials == nil || to.Credentials.Username == "" || to.Credentials.Password == "" {
		return protocol.StatusEntry{}, false, invalid("delivery confirmation of allowlist %q needs salt-api credentials: set salt.credentialsSecretRef to a Secret with username and password", allowlist)
	}
	client, err := p.clients.get(to.CABundle)
	if err != nil {
		return protocol.StatusEntry{}, false, err
	}
	body, err := json.Marshal([]map[string]string{{"client": "runner", "fun": protocol.StatusRunner, "cluster": cluster, "allowlist": allowlist}})
	if err != nil {
		return protocol.StatusEntry{}, false, fmt.Errorf("encode the %s call: %w", protocol.StatusRunner, err)
	}
	cred := *to.Credentials
	request := fmt.Sprintf("the runner %s as user %q (POST %s/)", protocol.StatusRunner, cred.Username, ep.base)
	var resp *resty.Response
	for try := 0; try < 2; try++ {
		token, err := p.tokens.get(ctx, client, ep, cred, p.log)
		if err != nil {
			return protocol.StatusEntry{}, false, err
		}
		resp, err = client.R().
			SetContext(ctx).
			SetHeader("Content-Type", "application/json").
			SetHeader("Accept", "application/json").
			SetHeader("X-Auth-Token", token).
			SetBody(body).
			Post(ep.base + "/")
		if err != nil {
			return protocol.StatusEntry{}, false, describeTransportError(err, ep, attemptsOf(resp))
		}
		if resp.StatusCode() != http.StatusUnauthorized {
			break
		}
		p.tokens.invalidate(ep, cred, token)
	}
	switch code := resp.StatusCode(); code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return protocol.StatusEntry{}, false, fmt.Errorf("salt-api at %s refused %s with HTTP %d (%s): the user may not run it; %s",
			ep.base, request, code, quote(resp.Body(), code), statusACLHint)
	case http.StatusBadRequest:
		return protocol.StatusEntry{}, false, fmt.Errorf("salt-api at %s refused %s with HTTP 400 (%s); %s",
			ep.base, request, quote(resp.Body(), code), statusACLHint)
	default:
		if err := checkAnswer(resp, request, attemptsOf(resp)); err != nil {
			return protocol.StatusEntry{}, false, err
		}
	}
	return protocol.DecodeStatusAnswer(resp.Body(), cluster, allowlist)
}
