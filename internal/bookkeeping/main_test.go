package bookkeeping_test

import (
	"os"
	"testing"

	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
