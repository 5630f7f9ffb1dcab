package httpserver

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// quickBodies are request bodies of the shapes clients send, and near misses.
var quickBodies = []string{
	`{"query":"{ __typename }"}`,
	`{"query":"query Q4 {\n  me { id email }\n}\n","variables":{}}`,
	` { "query" : "{ a }" , "operationName" : null , "variables" : null , "extensions" : { } } `,
	`{"operationName":"Q","query":"query Q { a }","extensions":null}`,
	`{"query":"esc \" \\ \/ \b \f \n \r \t end"}`,
	`{"query":"{ a(s: \"Zoë Ünal\") }"}`,
	`{"query":"\u0041"}`, `{"query":"bad \x"}`, "{\"query\":\"ctl \x01\"}", "{\"query\":\"\xff\xfe\"}",
	`{"query":""}`, `{"query":null}`, `{"query":3}`, `{"query":"a","query":"b"}`, `{"Query":"a"}`, `{"QUERY":"a"}`,
	`{"query":"a","variables":{"x":1}}`, `{"query":"a","variables":[]}`, `{"query":"a","other":1}`,
	`{"query":"a",}`, `{,"query":"a"}`, `{"query":"a"}}`, `{"query":"a"}]`, `{"query":"a"} {}`, `{"query":"a"`,
	`{"query":"a","operationName":"x\ty"}`, `{"query":"a","operationName":7}`, `{"query":"a","extensions":{"persistedQuery":{}}}`,
	`{"extensions":{},"query":"a"}`, `{"query":"a" "variables":{}}`, `{"query"`, `{`, ``, `null`, `[]`, `"query"`,
}

// Whatever quickParams reads, the decoder reads alike.
func checkQuick(t *testing.T, body string) {
	t.Helper()
	quick, ok := quickParams([]byte(body))
	if !ok {
		return
	}
	slow, err := decodeParamsSlow([]byte(body))
	if err != nil {
		t.Fatalf("quickParams took %q, the decoder refuses it: %v", body, err)
	}
	if !reflect.DeepEqual(quick, slow) {
		t.Fatalf("body %q: quickParams read %+v, the decoder %+v", body, quick, slow)
	}
}

func TestQuickParamsReadAsTheDecoder(t *testing.T) {
	t.Parallel()
	taken := 0
	for _, b := range quickBodies {
		checkQuick(t, b)
		if _, ok := quickParams([]byte(b)); ok {
			taken++
		}
	}
	if taken < 5 {
		t.Fatalf("quickParams took %d of the usual bodies", taken)
	}
	// Bodies spliced from the pieces of JSON the reader turns on.
	pieces := []string{`{`, `}`, `"query"`, `"operationName"`, `"variables"`, `"extensions"`, `"Query"`, `:`, `,`, ` `, "\n",
		`"a"`, `""`, `"\n"`, `"\\"`, `"\u00e9"`, `"é"`, "\"\xc3\"", `null`, `nul`, `{}`, `[]`, `1`, `"`, `\`, `"x":1`}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300_000 {
		var b strings.Builder
		b.WriteString(`{"query":"q",`)
		for range rng.IntN(10) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		checkQuick(t, b.String())
		checkQuick(t, b.String()[len(`{"query":"q",`):])
	}
}

func FuzzQuickParams(f *testing.F) {
	for _, b := range quickBodies {
		f.Add(b)
	}
	f.Fuzz(checkQuick)
}

func TestJSONContentType(t *testing.T) {
	t.Parallel()
	for ct, want := range map[string]bool{
		"application/json": true, "application/json; charset=utf-8": true, "Application/JSON; Charset=UTF8": true,
		"application/json;charset=utf-8": true, "application/json; charset=latin1": false, "text/plain": false,
		"application/x-www-form-urlencoded": false, "": false, "application/json; charset=utf-8; x": false,
	} {
		if got := jsonContentType(ct); got != want {
			t.Errorf("jsonContentType(%q) = %v, want %v", ct, got, want)
		}
	}
}
