package providers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/providers"
	"github.com/propertyportal/gateway/internal/metrics"
)

func TestAdminCallsAreCountedByAdapterAndStatus(t *testing.T) {
	ads, err := providers.NewAdmins([]idp.Config{{ID: "dev-metrics", Kind: idp.KindDev, Admin: &idp.AdminConfig{}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ad := ads["dev-metrics"]
	ctx := context.Background()
	if _, err := ad.GetUser(ctx, "nobody"); err == nil { // the dev store answers 404
		t.Fatal("unknown user found")
	}
	email := "a@example.com"
	if _, err := ad.UpdateUser(ctx, "someone", idp.ProfileUpdate{Email: &email}); err != nil {
		t.Fatal(err)
	}
	out, err := testutil.CollectAndFormat(metrics.Registry, expfmt.TypeTextPlain, "gateway_idp_calls_total")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`adapter="dev-metrics",status="404"} 1`, `adapter="dev-metrics",status="200"} 1`} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("metrics lack %s:\n%s", want, out)
		}
	}
}
