package provenance

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// VulnScan describes one vulnerability scan of an image, for cosign's
// vulnerability scan predicate.
type VulnScan struct {
	// ScannerURI identifies the scanner (required), e.g.
	// "pkg:golang/github.com/google/osv-scanner/v2@v2.5.0".
	ScannerURI string
	// ScannerVersion is the scanner's version (required), e.g. "2.5.0".
	ScannerVersion string
	// DBURI and DBVersion identify the vulnerability database used
	// (optional; e.g. its location and its update time or digest).
	DBURI, DBVersion string
	// Result is the scan result (required): any JSON object; slipway puts
	// the gate's decision and the findings here.
	Result any
	// StartedOn and FinishedOn bound the scan (required).
	StartedOn, FinishedOn time.Time
	// InvocationURI, EventID and BuilderID say what ran the scan (optional).
	InvocationURI, EventID, BuilderID string
	// Parameters are the scan's parameters (optional), e.g. the
	// environment and policy.
	Parameters any
}

// vulnPredicate is cosign's CosignVulnPredicate, field for field.
type vulnPredicate struct {
	Invocation struct {
		Parameters any    `json:"parameters"`
		URI        string `json:"uri"`
		EventID    string `json:"event_id"`
		BuilderID  string `json:"builder.id"`
	} `json:"invocation"`
	Scanner struct {
		URI     string `json:"uri"`
		Version string `json:"version"`
		DB      struct {
			URI     string `json:"uri"`
			Version string `json:"version"`
		} `json:"db"`
		Result json.RawMessage `json:"result"`
	} `json:"scanner"`
	Metadata struct {
		ScanStartedOn  string `json:"scanStartedOn"`
		ScanFinishedOn string `json:"scanFinishedOn"`
	} `json:"metadata"`
}

// VulnPredicate returns cosign's vulnerability scan predicate
// (PredicateVulnScan) for the scan, checked: scanner URI and version,
// a result that is a JSON object, and start and finish times in order are
// required; an error wraps ErrInvalid.
func VulnPredicate(v VulnScan) ([]byte, error) {
	switch {
	case strings.TrimSpace(v.ScannerURI) == "":
		return nil, fmt.Errorf("%w: vulnerability scan predicate needs the scanner's URI", ErrInvalid)
	case strings.TrimSpace(v.ScannerVersion) == "":
		return nil, fmt.Errorf("%w: vulnerability scan predicate needs the scanner's version", ErrInvalid)
	case v.StartedOn.IsZero() || v.FinishedOn.IsZero():
		return nil, fmt.Errorf("%w: vulnerability scan predicate needs the scan's start and finish times", ErrInvalid)
	case v.FinishedOn.Before(v.StartedOn):
		return nil, fmt.Errorf("%w: the scan finished (%s) before it started (%s)", ErrInvalid, v.FinishedOn.UTC().Format(time.RFC3339), v.StartedOn.UTC().Format(time.RFC3339))
	}
	if err := absURI("scanner URI", v.ScannerURI); err != nil {
		return nil, err
	}
	res, err := marshal(v.Result)
	if err != nil {
		return nil, fmt.Errorf("%w: scan result: %v", ErrInvalid, err)
	}
	if len(res) == 0 || res[0] != '{' {
		return nil, fmt.Errorf("%w: the scan result must be a JSON object", ErrInvalid)
	}
	var p vulnPredicate
	p.Invocation.Parameters = v.Parameters
	p.Invocation.URI = v.InvocationURI
	p.Invocation.EventID = v.EventID
	p.Invocation.BuilderID = v.BuilderID
	p.Scanner.URI = v.ScannerURI
	p.Scanner.Version = v.ScannerVersion
	p.Scanner.DB.URI = v.DBURI
	p.Scanner.DB.Version = v.DBVersion
	p.Scanner.Result = res
	p.Metadata.ScanStartedOn = *timeUTC(v.StartedOn)
	p.Metadata.ScanFinishedOn = *timeUTC(v.FinishedOn)
	return marshal(p)
}
