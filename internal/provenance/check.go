package provenance

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Check checks that data is a predicate of the named kind (slsa, sbom,
// vuln or test) before it is signed: a JSON object with the fields the
// kind's consumers require. It is the gate for predicates written by other
// tools; the builders of this package always pass it.
func Check(kind string, data []byte) error {
	k, err := KindOf(kind)
	if err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("%w: %s predicate is not a JSON object: %v", ErrInvalid, k.Name, err)
	}
	switch k.Name {
	case "sbom":
		_, err := CheckCycloneDX(data)
		return err
	case "slsa":
		var p struct {
			BuildDefinition *struct {
				BuildType          string         `json:"buildType"`
				ExternalParameters map[string]any `json:"externalParameters"`
			} `json:"buildDefinition"`
			RunDetails *struct {
				Builder struct {
					ID string `json:"id"`
				} `json:"builder"`
			} `json:"runDetails"`
		}
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("%w: SLSA provenance: %v", ErrInvalid, err)
		}
		switch {
		case p.BuildDefinition == nil || p.RunDetails == nil:
			return fmt.Errorf("%w: SLSA provenance v1 needs buildDefinition and runDetails", ErrInvalid)
		case p.BuildDefinition.BuildType == "":
			return fmt.Errorf("%w: SLSA provenance has no buildDefinition.buildType", ErrInvalid)
		case p.BuildDefinition.ExternalParameters == nil:
			return fmt.Errorf("%w: SLSA provenance has no buildDefinition.externalParameters", ErrInvalid)
		case p.RunDetails.Builder.ID == "":
			return fmt.Errorf("%w: SLSA provenance has no runDetails.builder.id", ErrInvalid)
		}
	case "vuln":
		var p struct {
			Scanner *struct {
				URI     string          `json:"uri"`
				Version string          `json:"version"`
				Result  json.RawMessage `json:"result"`
			} `json:"scanner"`
			Metadata *struct {
				Started  string `json:"scanStartedOn"`
				Finished string `json:"scanFinishedOn"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("%w: vulnerability scan predicate: %v", ErrInvalid, err)
		}
		if p.Scanner == nil || p.Scanner.URI == "" || p.Scanner.Version == "" {
			return fmt.Errorf("%w: vulnerability scan predicate needs scanner.uri and scanner.version", ErrInvalid)
		}
		if r := strings.TrimSpace(string(p.Scanner.Result)); r == "" || r[0] != '{' {
			return fmt.Errorf("%w: vulnerability scan predicate's scanner.result must be a JSON object", ErrInvalid)
		}
		if p.Metadata == nil {
			return fmt.Errorf("%w: vulnerability scan predicate needs metadata.scanStartedOn and scanFinishedOn", ErrInvalid)
		}
		for f, v := range map[string]string{"scanStartedOn": p.Metadata.Started, "scanFinishedOn": p.Metadata.Finished} {
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				return fmt.Errorf("%w: vulnerability scan predicate's metadata.%s %q is not an RFC 3339 time", ErrInvalid, f, v)
			}
		}
	case "test":
		var p struct {
			Result        string            `json:"result"`
			Configuration []json.RawMessage `json:"configuration"`
		}
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("%w: test result predicate: %v", ErrInvalid, err)
		}
		if p.Result != TestPassed && p.Result != TestWarned && p.Result != TestFailed {
			return fmt.Errorf("%w: test result predicate's result %q is not PASSED, WARNED or FAILED", ErrInvalid, p.Result)
		}
		if len(p.Configuration) == 0 {
			return fmt.Errorf("%w: test result predicate has no configuration", ErrInvalid)
		}
	}
	return nil
}
