package main

import (
	"context"
	"fmt"
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
		return fmt.Errorf("no service found under %s/ (a service is a directory with a Dockerfile or a service.yaml)", p.Project.ServicesDir)
	}
	return nil
}
