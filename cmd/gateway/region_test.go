package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestBadPhoneRegionStopsStartup(t *testing.T) {
	for _, region := range []string{"de", "DEU", "XX"} {
		err := run(context.Background(), []string{"serve"}, func(k string) string {
			return map[string]string{"PHONE_DEFAULT_REGION": region}[k]
		}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "PHONE_DEFAULT_REGION") {
			t.Fatalf("%s: err = %v, want one naming PHONE_DEFAULT_REGION", region, err)
		}
	}
}
