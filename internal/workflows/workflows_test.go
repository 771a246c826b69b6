package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/slipwayci/slipway/internal/testutil"
)

// workflowDir is where GitHub looks for workflows, relative to the root.
const workflowDir = ".github/workflows"

// daggerAction is the action that installs the dagger CLI and runs it.
const daggerAction = "dagger/dagger-for-github"

// requiredWorkflows are the workflows the project ships; each runs slipway
// through the Dagger action.
var requiredWorkflows = []string{"ci.yml", "promote.yml"}

// workflow is the part of a workflow file these checks read.
type workflow struct {
	file        string
	On          yaml.Node       `yaml:"on"`
	Permissions yaml.Node       `yaml:"permissions"`
	Env         yaml.Node       `yaml:"env"`
	Jobs        map[string]*job `yaml:"jobs"`
}

type job struct {
	Permissions yaml.Node `yaml:"permissions"`
	Env         yaml.Node `yaml:"env"`
	Steps       []*step   `yaml:"steps"`
}

type step struct {
	Name string               `yaml:"name"`
	ID   string               `yaml:"id"`
	Uses yaml.Node            `yaml:"uses"`
	Run  yaml.Node            `yaml:"run"`
	With map[string]yaml.Node `yaml:"with"`
	Env  yaml.Node            `yaml:"env"`
}

// label names a step in messages.
func (s *step) label(i int) string {
	switch {
	case s.Name != "":
		return fmt.Sprintf("step %q", s.Name)
	case s.ID != "":
		return fmt.Sprintf("step %s", s.ID)
	case s.Uses.Value != "":
		return fmt.Sprintf("step %d (%s)", i+1, s.Uses.Value)
	}
	return fmt.Sprintf("step %d", i+1)
}

// isDagger reports whether the step runs the Dagger action.
func (s *step) isDagger() bool {
	return strings.HasPrefix(s.Uses.Value, daggerAction+"@") || s.Uses.Value == daggerAction
}

// sortedJobs returns the job names in order, for stable messages.
func (w *workflow) sortedJobs() []string {
	names := make([]string, 0, len(w.Jobs))
	for n := range w.Jobs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (w *workflow) at(line int) string { return fmt.Sprintf("%s:%d", w.file, line) }

// parseWorkflow decodes one workflow file's content.
func parseWorkflow(file string, b []byte) (*workflow, error) {
	var w workflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(w.Jobs) == 0 {
		return nil, fmt.Errorf("%s: no jobs", file)
	}
	w.file = file
	return &w, nil
}

// workflowFiles lists the workflow files, relative to the root.
func workflowFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(root, workflowDir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			rel, err := filepath.Rel(root, f)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, filepath.ToSlash(rel))
		}
	}
	sort.Strings(files)
	for _, want := range requiredWorkflows {
		found := false
		for _, f := range files {
			found = found || f == workflowDir+"/"+want
		}
		if !found {
			t.Errorf("%s/%s is missing", workflowDir, want)
		}
	}
	if len(files) == 0 {
		t.Fatalf("no workflow in %s", workflowDir)
	}
	return files
}

// loadWorkflows parses every workflow of the repository.
func loadWorkflows(t *testing.T) []*workflow {
	t.Helper()
	root := testutil.RepoRoot(t)
	var out []*workflow
	for _, f := range workflowFiles(t, root) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		w, err := parseWorkflow(f, b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, w)
	}
	return out
}

// runActionlint runs actionlint from dir on files and returns its output
// and exit status (0: no problem, 1: problems found).
func runActionlint(t *testing.T, dir string, files ...string) (string, int) {
	t.Helper()
	bin := testutil.Tool(t, "actionlint")
	args := append([]string{"-no-color", "-oneline", "-shellcheck=", "-pyflakes="}, files...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		if exit.ExitCode() > 1 {
			t.Fatalf("actionlint could not run (exit %d):\n%s", exit.ExitCode(), out.String())
		}
		return out.String(), exit.ExitCode()
	}
	t.Fatalf("running actionlint: %v", err)
	return "", 0
}

// TestActionlint: actionlint finds nothing in any workflow.
func TestActionlint(t *testing.T) {
	root := testutil.RepoRoot(t)
	files := workflowFiles(t, root)
	out, code := runActionlint(t, root, files...)
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("actionlint found problems in %s:\n%s", strings.Join(files, ", "), out)
	}
	t.Logf("actionlint: %d workflow(s) clean: %s", len(files), strings.Join(files, ", "))
}

// TestActionlintReportsProblems makes sure the linter really lints: a
// workflow with a script injection and a dangling `needs` is reported.
func TestActionlintReportsProblems(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, workflowDir), 0o755); err != nil {
		t.Fatal(err)
	}
	bad := `name: bad
on: pull_request
permissions: {}
jobs:
  greet:
    runs-on: ubuntu-latest
    needs: [missing]
    steps:
      - run: echo "${{ github.event.pull_request.title }}"
`
	f := workflowDir + "/bad.yml"
	if err := os.WriteFile(filepath.Join(dir, f), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runActionlint(t, dir, f)
	if code != 1 {
		t.Fatalf("actionlint exit %d on a bad workflow, want 1:\n%s", code, out)
	}
	for _, want := range []string{"potentially untrusted", `"missing"`} {
		if !strings.Contains(out, want) {
			t.Errorf("actionlint's report does not mention %s:\n%s", want, out)
		}
	}
}

// engineVersion is the Dagger version the module is written for
// (dagger.json's engineVersion, without its "v").
func engineVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "dagger.json"))
	if err != nil {
		t.Fatal(err)
	}
	var mod struct {
		EngineVersion string `json:"engineVersion"`
	}
	if err := json.Unmarshal(b, &mod); err != nil {
		t.Fatalf("dagger.json: %v", err)
	}
	v := strings.TrimPrefix(mod.EngineVersion, "v")
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("dagger.json: engineVersion %q is not vX.Y.Z", mod.EngineVersion)
	}
	return v
}

var (
	// exactRef is a release tag vX.Y.Z or a full commit SHA.
	exactRef = regexp.MustCompile(`^(v\d+\.\d+\.\d+|[0-9a-f]{40})$`)
	// envExpr is a whole value that reads one environment variable.
	envExpr = regexp.MustCompile(`^\$\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$`)
)

// lookupEnv finds name in the env mappings given, innermost first.
func lookupEnv(name string, scopes ...*yaml.Node) (string, bool) {
	for _, n := range scopes {
		if n.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				return n.Content[i+1].Value, true
			}
		}
	}
	return "", false
}

// daggerPinProblems lists the uses of the Dagger action in w that are not
// pinned to an exact release or that install another Dagger version than
// want, and returns how many uses it saw.
func daggerPinProblems(w *workflow, want string) (problems []string, uses int) {
	for _, jn := range w.sortedJobs() {
		j := w.Jobs[jn]
		for i, s := range j.Steps {
			if !s.isDagger() {
				continue
			}
			uses++
			where := fmt.Sprintf("%s: job %s, %s", w.at(s.Uses.Line), jn, s.label(i))
			_, ref, _ := strings.Cut(s.Uses.Value, "@")
			if !exactRef.MatchString(ref) {
				problems = append(problems, fmt.Sprintf("%s: %s is not pinned to an exact release (vX.Y.Z) or commit", where, s.Uses.Value))
			}
			v, ok := s.With["version"]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: no `version:`; the action would install whatever Dagger is latest, want %q", where, want))
				continue
			}
			got := v.Value
			if m := envExpr.FindStringSubmatch(got); m != nil {
				val, found := lookupEnv(m[1], &s.Env, &j.Env, &w.Env)
				if !found {
					problems = append(problems, fmt.Sprintf("%s: version %s names an env variable that no env: block sets", w.at(v.Line), got))
					continue
				}
				got = val
			}
			if strings.TrimPrefix(got, "v") != want {
				problems = append(problems, fmt.Sprintf("%s: version %q, want %q (dagger.json engineVersion)", w.at(v.Line), got, want))
			}
		}
	}
	return problems, uses
}

// TestDaggerActionPinned: every workflow that runs slipway pins the Dagger
// action to an exact release and installs the engine version of dagger.json;
// no action is used at a moving branch.
func TestDaggerActionPinned(t *testing.T) {
	want := engineVersion(t)
	for _, w := range loadWorkflows(t) {
		problems, uses := daggerPinProblems(w, want)
		for _, p := range problems {
			t.Error(p)
		}
		for _, req := range requiredWorkflows {
			if w.file == workflowDir+"/"+req && uses == 0 {
				t.Errorf("%s does not run %s", w.file, daggerAction)
			}
		}
		for _, jn := range w.sortedJobs() {
			for i, s := range w.Jobs[jn].Steps {
				u := s.Uses.Value
				if u == "" || strings.HasPrefix(u, "./") || strings.HasPrefix(u, "docker://") {
					continue
				}
				_, ref, ok := strings.Cut(u, "@")
				switch {
				case !ok || ref == "":
					t.Errorf("%s: job %s, %s: %s has no version", w.at(s.Uses.Line), jn, s.label(i), u)
				case ref == "main" || ref == "master" || ref == "HEAD" || ref == "latest":
					t.Errorf("%s: job %s, %s: %s follows a moving branch", w.at(s.Uses.Line), jn, s.label(i), u)
				}
			}
		}
	}
}

// TestDaggerPinCheck makes sure the pin check fails on what it must refuse.
func TestDaggerPinCheck(t *testing.T) {
	w, err := parseWorkflow("bad.yml", []byte(`
on: push
env: {DAGGER_VERSION: "0.18.0"}
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: dagger/dagger-for-github@v8
        with: {version: "0.19.10"}
      - uses: dagger/dagger-for-github@v8.2.0
        with: {version: "${{ env.DAGGER_VERSION }}"}
      - uses: dagger/dagger-for-github@v8.2.0
      - uses: dagger/dagger-for-github@v8.2.0
        with: {version: "${{ env.NOWHERE }}"}
      - uses: dagger/dagger-for-github@0123456789abcdef0123456789abcdef01234567
        env: {DAGGER_VERSION: "0.19.10"}
        with: {version: "${{ env.DAGGER_VERSION }}"}
`))
	if err != nil {
		t.Fatal(err)
	}
	problems, uses := daggerPinProblems(w, "0.19.10")
	if uses != 5 {
		t.Errorf("saw %d uses of the action, want 5", uses)
	}
	want := []string{
		"bad.yml:8: job a, step 1 (dagger/dagger-for-github@v8): dagger/dagger-for-github@v8 is not pinned",
		`bad.yml:11: version "0.18.0", want "0.19.10"`,
		"bad.yml:12: job a, step 3 (dagger/dagger-for-github@v8.2.0): no `version:`",
		"bad.yml:14: version ${{ env.NOWHERE }} names an env variable that no env: block sets",
	}
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(problems), len(want), strings.Join(problems, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(problems[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i, problems[i], want[i])
		}
	}
}

// expression matches one ${{ … }} expression.
var expression = regexp.MustCompile(`\$\{\{(.*?)\}\}`)

var (
	// secretRef matches an expression that reads a secret.
	secretRef = regexp.MustCompile(`\bsecrets\b|\bgithub\.token\b`)
	// untrustedRef matches an expression that reads text someone outside
	// the project chooses (after actionlint's list of untrusted inputs).
	untrustedRef = regexp.MustCompile(`\bgithub\.head_ref\b|\bgithub\.event\.[A-Za-z0-9_.*\[\]'"-]*\b(title|body|message|ref|label|name|email|default_branch|head_branch|page_name)\b`)
)

// stringInputs are the free-text inputs of workflow_dispatch and
// workflow_call (type string, or no type).
func stringInputs(on *yaml.Node) []string {
	var out []string
	if on.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(on.Content); i += 2 {
		trigger, spec := on.Content[i].Value, on.Content[i+1]
		if (trigger != "workflow_dispatch" && trigger != "workflow_call") || spec.Kind != yaml.MappingNode {
			continue
		}
		for k := 0; k+1 < len(spec.Content); k += 2 {
			if spec.Content[k].Value != "inputs" || spec.Content[k+1].Kind != yaml.MappingNode {
				continue
			}
			inputs := spec.Content[k+1]
			for m := 0; m+1 < len(inputs.Content); m += 2 {
				typ := "string"
				if def := inputs.Content[m+1]; def.Kind == yaml.MappingNode {
					if v, ok := lookupEnv("type", def); ok {
						typ = v
					}
				}
				if typ == "string" {
					out = append(out, inputs.Content[m].Value)
				}
			}
		}
	}
	return out
}

// scriptProblems lists every secret or untrusted value pasted into a shell
// script: `run:` scripts, and the inputs of the Dagger action that it pastes
// into its own bash script.
func scriptProblems(w *workflow) []string {
	var free []*regexp.Regexp
	for _, in := range stringInputs(&w.On) {
		q := regexp.QuoteMeta(in)
		free = append(free, regexp.MustCompile(`\b(github\.event\.)?inputs\.`+q+`\b|\binputs\[['"]`+q+`['"]\]`))
	}
	var out []string
	for _, jn := range w.sortedJobs() {
		for i, s := range w.Jobs[jn].Steps {
			type script struct {
				what string
				node yaml.Node
			}
			var scripts []script
			if s.Run.Value != "" {
				scripts = append(scripts, script{"run", s.Run})
			}
			if s.isDagger() {
				for _, k := range []string{"args", "call", "shell"} {
					if n, ok := s.With[k]; ok {
						scripts = append(scripts, script{"with." + k + " (the action runs it in bash)", n})
					}
				}
			}
			for _, sc := range scripts {
				where := fmt.Sprintf("%s: job %s, %s, %s", w.at(sc.node.Line), jn, s.label(i), sc.what)
				for _, m := range expression.FindAllStringSubmatch(sc.node.Value, -1) {
					e := strings.TrimSpace(m[1])
					switch {
					case secretRef.MatchString(e):
						out = append(out, fmt.Sprintf("%s: interpolates the secret ${{ %s }}; put it in the step's env: and read it from there (env://NAME for the module)", where, e))
					case untrustedRef.MatchString(e):
						out = append(out, fmt.Sprintf("%s: interpolates ${{ %s }}, which someone outside the project chooses; put it in the step's env: and use \"$NAME\"", where, e))
					default:
						for _, re := range free {
							if re.MatchString(e) {
								out = append(out, fmt.Sprintf("%s: interpolates the free-text input ${{ %s }}; put it in the step's env: and use \"$NAME\"", where, e))
								break
							}
						}
					}
				}
			}
		}
	}
	return out
}

// TestScriptsHoldNoSecretsOrUntrustedText: no workflow pastes a secret, or
// text an outsider or a free-text input chooses, into a shell script.
func TestScriptsHoldNoSecretsOrUntrustedText(t *testing.T) {
	for _, w := range loadWorkflows(t) {
		for _, p := range scriptProblems(w) {
			t.Error(p)
		}
	}
}

// TestScriptCheck makes sure the script check fails on what it must refuse
// and accepts values passed through env:.
func TestScriptCheck(t *testing.T) {
	w, err := parseWorkflow("bad.yml", []byte(`
on:
  workflow_dispatch:
    inputs:
      services: {type: string}
      note: {}
      to: {type: choice, options: [dev, prod]}
      dry-run: {type: boolean}
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - name: leak
        run: echo ${{ secrets.TOKEN }}
      - name: token
        run: |
          curl -H "Authorization: Bearer ${{ github.token }}" https://example.com
      - name: dagger
        uses: dagger/dagger-for-github@v8.2.0
        with:
          args: >-
            --branch ${{ github.head_ref }}
            --service ${{ inputs.services }}
            --note ${{ github.event.inputs.note }}
            --to ${{ inputs.to }} ${{ inputs.dry-run && '--dry-run' || '' }}
            --title "${{ github.event.pull_request.title }}"
            --commit ${{ github.event.pull_request.head.sha }}
      - name: fine
        env:
          TOKEN: ${{ secrets.TOKEN }}
          BRANCH: ${{ github.head_ref }}
        run: |
          echo "$BRANCH" | curl -H "Authorization: Bearer $TOKEN" --data-binary @- https://example.com
      - name: other action
        uses: actions/github-script@v7
        with:
          args: ${{ secrets.TOKEN }}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := scriptProblems(w)
	want := []string{
		"bad.yml:14: job a, step \"leak\", run: interpolates the secret ${{ secrets.TOKEN }}",
		"bad.yml:16: job a, step \"token\", run: interpolates the secret ${{ github.token }}",
		"bad.yml:21: job a, step \"dagger\", with.args (the action runs it in bash): interpolates ${{ github.head_ref }}",
		"bad.yml:21: job a, step \"dagger\", with.args (the action runs it in bash): interpolates the free-text input ${{ inputs.services }}",
		"bad.yml:21: job a, step \"dagger\", with.args (the action runs it in bash): interpolates the free-text input ${{ github.event.inputs.note }}",
		"bad.yml:21: job a, step \"dagger\", with.args (the action runs it in bash): interpolates ${{ github.event.pull_request.title }}",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i, got[i], want[i])
		}
	}
}

// permissionProblems checks that w declares read-only permissions for the
// workflow and grants writes only to packages, per job, and id-token only
// to a job that signs keylessly (passes --oidc-request-token to the
// module), which must have it.
func permissionProblems(w *workflow) []string {
	var out []string
	check := func(scope string, n *yaml.Node, writable map[string]bool) {
		switch n.Kind {
		case 0:
			if scope == "workflow" {
				out = append(out, fmt.Sprintf("%s: no top-level permissions: declare them (contents: read), or every job gets the repository's default token rights", w.file))
			}
			return
		case yaml.ScalarNode:
			if n.Value != "read-all" {
				out = append(out, fmt.Sprintf("%s: %s permissions %q: grant scopes one by one", w.at(n.Line), scope, n.Value))
			}
			return
		case yaml.MappingNode:
		default:
			out = append(out, fmt.Sprintf("%s: %s permissions are not a mapping", w.at(n.Line), scope))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			switch {
			case k == "id-token" && v.Value == "write" && !writable[k]:
				out = append(out, fmt.Sprintf("%s: %s grants id-token: write; only a job that signs keylessly (passes --oidc-request-token to the module) needs an OIDC token", w.at(v.Line), scope))
			case v.Value == "write" && !writable[k]:
				out = append(out, fmt.Sprintf("%s: %s grants %s: write; only packages may be written (images), and only by a job", w.at(v.Line), scope, k))
			}
		}
	}
	check("workflow", &w.Permissions, nil)
	for _, jn := range w.sortedJobs() {
		j := w.Jobs[jn]
		signs := j.signsKeylessly()
		check("job "+jn, &j.Permissions, map[string]bool{"packages": true, "id-token": signs})
		if signs && !grants(&j.Permissions, "id-token", "write") {
			out = append(out, fmt.Sprintf("%s: job %s signs keylessly (--oidc-request-token) without `permissions: id-token: write`: GitHub would give it no token request URL", w.file, jn))
		}
	}
	return out
}

// signsKeylessly reports whether a step of j passes --oidc-request-token.
func (j *job) signsKeylessly() bool {
	for _, s := range j.Steps {
		for _, in := range []string{"args", "call"} {
			if n, ok := s.With[in]; ok && strings.Contains(n.Value, "--oidc-request-token") {
				return true
			}
		}
	}
	return false
}

// grants reports whether permissions n give scope the access.
func grants(n *yaml.Node, scope, access string) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == scope && n.Content[i+1].Value == access {
			return true
		}
	}
	return false
}

// TestPermissionsLeastPrivilege: read-only by default, package writes only
// where images are pushed or tagged, an OIDC token only where images are
// signed keylessly.
func TestPermissionsLeastPrivilege(t *testing.T) {
	for _, w := range loadWorkflows(t) {
		for _, p := range permissionProblems(w) {
			t.Error(p)
		}
	}
}

// TestPermissionCheck makes sure the permission check fails on what it must
// refuse.
func TestPermissionCheck(t *testing.T) {
	w, err := parseWorkflow("bad.yml", []byte(`
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    permissions: {contents: write, id-token: write, packages: write}
    steps: [{run: "true"}]
  b:
    runs-on: ubuntu-latest
    permissions: write-all
    steps: [{run: "true"}]
  c:
    runs-on: ubuntu-latest
    permissions: {contents: read, id-token: write}
    steps: [{uses: dagger/dagger-for-github@v8.2.0, with: {verb: call, args: "--oidc-request-token env://ACTIONS_ID_TOKEN_REQUEST_TOKEN ci"}}]
  d:
    runs-on: ubuntu-latest
    permissions: {contents: read}
    steps: [{uses: dagger/dagger-for-github@v8.2.0, with: {verb: call, args: "--oidc-request-token env://ACTIONS_ID_TOKEN_REQUEST_TOKEN ci"}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	got := permissionProblems(w)
	want := []string{
		"bad.yml: no top-level permissions",
		"bad.yml:6: job a grants contents: write",
		"bad.yml:6: job a grants id-token: write",
		`bad.yml:10: job b permissions "write-all"`,
		"bad.yml: job d signs keylessly (--oidc-request-token) without `permissions: id-token: write`",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i, got[i], want[i])
		}
	}
}
