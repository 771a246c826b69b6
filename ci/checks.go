package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// CheckConfig validates slipway.yaml and every service.yaml (file, field and
// line for each problem) without running anything. Run by `dagger check`.
// +check
func (m *Slipway) CheckConfig(ctx context.Context) error {
	p, err := m.configPlan(ctx)
	if err != nil {
		return err
	}
	if len(p.Services) == 0 {
		var skipped []string
		for _, s := range p.Skipped {
			skipped = append(skipped, s.Dir+": "+s.Reason)
		}
		msg := fmt.Sprintf("no service found in %s (a service is a directory with a Dockerfile or a service.yaml)", strings.Join(p.Project.Services, ", "))
		if len(skipped) > 0 {
			msg += "; not services: " + strings.Join(skipped, "; ")
		}
		return errors.New(msg)
	}
	return nil
}
