// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

package publisher_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodeallow/nodeallow/api/protocol"
	"github.com/nodeallow/nodeallow/controllers/publisher"
	"github.com/nodeallow/nodeallow/test/saltapistandin"
)

func TestReadDeliveryCallsTheStatusRunnerAsTheUser(t *testing.T) {
	users := map[string]string{"nodeallow": "secret"}
	stub := saltapistandin.NewForTest(t, testKey, saltapistandin.WithLogin(users))
	stub.SetSubscribers("db1", "db2")
	p := publisher.NewSaltAPI(fastOptions())
	to := publisher.Endpoint{URL: stub.URL(), AllowInsecureHTTP: true, SigningKey: testKey,
		Credentials: &publisher.Credentials{Username: "nodeallow", Password: "secret", Eauth: "file"}}
	ctx := context.Background()

	if _, found, err := p.ReadDelivery(ctx, to, "prod", "workers"); err != nil || found {
		t.Fatalf("before any publish: found %v, err %v; want not found", found, err)
	}
	snap := protocol.Snapshot{Kind: protocol.KindSnapshot, Cluster: "prod", Allowlist: "workers", Sequence: 4,
		GeneratedAt: time.Now(), Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}
	if _, err := p.Publish(ctx, to, snap); err != nil {
		t.Fatal(err)
	}
	e, found, err := p.ReadDelivery(ctx, to, "prod", "workers")
	if err != nil || !found {
		t.Fatalf("found %v, err %v", found, err)
	}
	if e.Sequence != 4 || !e.Stored || len(e.Subscribers) != 2 || *e.Subscribers["db2"].AppliedSequence != 4 {
		t.Fatalf("entry %+v", e)
	}

	// Tokens expire or a master restarts: one new login, then the call goes through.
	stub.RevokeTokens()
	logins := len(stub.Logins())
	if _, _, err := p.ReadDelivery(ctx, to, "prod", "workers"); err != nil {
		t.Fatalf("after the tokens were revoked: %v", err)
	}
	if n := len(stub.Logins()) - logins; n != 1 {
		t.Fatalf("%d logins after the token was refused, want 1", n)
	}
}

func TestReadDeliveryErrorsSayWhatToDo(t *testing.T) {
	stub := saltapistandin.NewForTest(t, testKey, saltapistandin.WithLogin(map[string]string{"nodeallow": "secret"}))
	p := publisher.NewSaltAPI(fastOptions())
	ctx := context.Background()
	base := publisher.Endpoint{URL: stub.URL(), AllowInsecureHTTP: true, SigningKey: testKey}

	_, _, err := p.ReadDelivery(ctx, base, "prod", "workers")
	var invalid *publisher.InvalidEndpointError
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "salt.credentialsSecretRef") {
		t.Errorf("without credentials: %v, want an InvalidEndpointError naming salt.credentialsSecretRef", err)
	}

	// The user may log in but not run the runner, as salt-api answers without the '@runner' ACL.
	refusing := saltapistandin.NewForTest(t, testKey, saltapistandin.WithLogin(map[string]string{"nodeallow": "secret"}))
	refusing.RefuseRunner()
	to := base
	to.URL = refusing.URL()
	to.Credentials = &publisher.Credentials{Username: "nodeallow", Password: "secret", Eauth: "file"}
	_, _, err = p.ReadDelivery(ctx, to, "prod", "workers")
	if err == nil || !strings.Contains(err.Error(), `as user "nodeallow"`) || !strings.Contains(err.Error(), "'@runner'") ||
		!strings.Contains(err.Error(), "No permission") || strings.Contains(err.Error(), "<") {
		t.Errorf("a refused runner: %v; want the user, salt-api's text and the ACL to add", err)
	}
	if n := len(refusing.Logins()); n != 2 {
		t.Errorf("%d logins, want 2 (the refused token is renewed once before giving up)", n)
	}

	to.Credentials.Password = "wrong"
	_, _, err = p.ReadDelivery(ctx, to, "prod", "workers")
	var login *publisher.LoginError
	if !errors.As(err, &login) {
		t.Errorf("a wrong password: %v, want a LoginError", err)
	}
}
