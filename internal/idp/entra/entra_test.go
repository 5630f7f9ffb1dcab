package entra_test

import (
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/entra"
	"github.com/propertyportal/gateway/internal/idp/entra/entratest"
	"github.com/propertyportal/gateway/internal/idp/idptest"
)

func TestAdapter(t *testing.T) {
	f := entratest.New(t)
	idptest.Conformance(t, f.Core, func(timeout time.Duration) idp.AdminAdapter {
		cfg := f.Config()
		cfg.Timeout = idp.Duration(timeout)
		return entra.New(cfg, nil)
	})
}
