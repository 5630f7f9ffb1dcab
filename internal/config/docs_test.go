package config

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is where the repository's documents are, seen from this package.
const repoRoot = "../.."

// readByLoad returns the environment variables Load reads: it asks its
// environ for every variable it knows, whatever the environment holds, so
// recording the names asked for is the list.
func readByLoad(t *testing.T) map[string]bool {
	t.Helper()
	read := map[string]bool{}
	if _, err := Load(func(name string) string { read[name] = true; return "" }); err != nil {
		t.Fatal(err)
	}
	if len(read) == 0 {
		t.Fatal("Load read no variable")
	}
	return read
}

// tableVariables returns the variables in the first column of the first
// Markdown table after the heading in the file at path, and the number of
// rows naming each (a setting is documented once).
func tableVariables(t *testing.T, path, heading string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")
	vars := map[string]int{}
	inSection, inTable := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case !inSection:
			inSection = line == heading
		case strings.HasPrefix(line, "|"):
			inTable = true
			cells := strings.Split(line, "|")
			if len(cells) < 3 || strings.Trim(cells[1], " -:") == "" || strings.TrimSpace(cells[1]) == "variable" {
				continue // the separator and header rows
			}
			for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
				vars[m[1]]++
			}
		case inTable:
			return vars // the end of the table
		case strings.HasPrefix(line, "## "):
			t.Fatalf("%s: no table under %q", path, heading)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !inTable {
		t.Fatalf("%s: no table under %q", path, heading)
	}
	return vars
}

func sorted(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestSettingsTableMatchesLoad keeps docs/configuration.md's settings table
// and Load in step: a variable Load reads must have a row there, and a row
// must name a variable Load reads.
func TestSettingsTableMatchesLoad(t *testing.T) {
	read := readByLoad(t)
	doc := filepath.Join(repoRoot, "docs", "configuration.md")
	documented := tableVariables(t, doc, "## Settings")
	for _, name := range sorted(read) {
		if documented[name] == 0 {
			t.Errorf("config.Load reads %s, but the settings table of docs/configuration.md has no row for it", name)
		}
	}
	for name, rows := range documented {
		if !read[name] {
			t.Errorf("docs/configuration.md documents %s, which config.Load does not read", name)
		}
		if rows > 1 {
			t.Errorf("docs/configuration.md documents %s in %d rows; one is enough", name, rows)
		}
	}
}

// TestREADMESettingsAreSettings checks that the README's short table of the
// main settings names only variables Load reads.
func TestREADMESettingsAreSettings(t *testing.T) {
	read := readByLoad(t)
	main := tableVariables(t, filepath.Join(repoRoot, "README.md"), "## Main settings")
	if len(main) == 0 {
		t.Fatal("the README's main settings table names no variable")
	}
	for name := range main {
		if !read[name] {
			t.Errorf("README.md's main settings name %s, which config.Load does not read", name)
		}
	}
}

// docs are the Markdown files whose relative links TestDocLinks checks.
func docs(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "bench/README.md"}
	more, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(more) == 0 {
		t.Fatal("no docs/*.md")
	}
	for _, m := range more {
		rel, err := filepath.Rel(repoRoot, m)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	return files
}

var (
	mdLink  = regexp.MustCompile(`\]\(([^()\s]+)\)`)
	mdCode  = regexp.MustCompile("`[^`]*`")
	heading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*$`)
)

// markdown is the prose of a Markdown file: its lines outside fenced code
// blocks, with inline code removed.
func markdown(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fenced := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			out = append(out, "")
			continue
		}
		if fenced {
			out = append(out, "")
			continue
		}
		out = append(out, line)
	}
	return out
}

// anchors returns the ids GitHub gives the headings of a Markdown file:
// lower case, punctuation dropped, spaces as hyphens, repeats numbered.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	seen := map[string]int{}
	for _, line := range markdown(t, path) {
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var id strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				id.WriteRune(r)
			case r == ' ':
				id.WriteRune('-')
			}
		}
		s := id.String()
		if n := seen[s]; n > 0 {
			ids[s+"-"+strconv.Itoa(n)] = true
		} else {
			ids[s] = true
		}
		seen[s]++
	}
	return ids
}

// TestDocLinks checks that every relative link in README.md, bench/README.md
// and docs/*.md points to a file of the repository and, with a #fragment
// into a Markdown file, to one of its headings.
func TestDocLinks(t *testing.T) {
	for _, file := range docs(t) {
		path := filepath.Join(repoRoot, filepath.FromSlash(file))
		for n, line := range markdown(t, path) {
			for _, m := range mdLink.FindAllStringSubmatch(mdCode.ReplaceAllString(line, ""), -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				where, fragment, _ := strings.Cut(target, "#")
				dest := path
				if where != "" {
					if strings.HasPrefix(where, "/") {
						t.Errorf("%s:%d: %s is not relative", file, n+1, target)
						continue
					}
					dest = filepath.Join(filepath.Dir(path), filepath.FromSlash(where))
					if _, err := os.Stat(dest); err != nil {
						t.Errorf("%s:%d: %s: no such file", file, n+1, target)
						continue
					}
				}
				if fragment != "" && strings.HasSuffix(dest, ".md") && !anchors(t, dest)[fragment] {
					t.Errorf("%s:%d: %s: no heading with that anchor", file, n+1, target)
				}
			}
		}
	}
}

// TestCIRunsTheREADMETestCommand checks that .ci/run runs the test command
// the README gives, as it is written there.
func TestCIRunsTheREADMETestCommand(t *testing.T) {
	readme := readFile(t, filepath.Join(repoRoot, "README.md"))
	_, after, ok := strings.Cut(readme, "\n## Run the tests\n")
	if !ok {
		t.Fatal("README.md has no section \"Run the tests\"")
	}
	m := regexp.MustCompile("(?s)```sh\n(.*?)\n```").FindStringSubmatch(after)
	if m == nil {
		t.Fatal("the README's \"Run the tests\" has no sh block")
	}
	want := strings.TrimSpace(m[1])
	for _, line := range strings.Split(readFile(t, filepath.Join(repoRoot, ".ci", "run")), "\n") {
		if strings.TrimSpace(line) == want {
			return
		}
	}
	t.Fatalf(".ci/run does not run the README's test command %q", want)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
