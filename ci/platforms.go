package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/wire"
)

// platformImage is one platform's image of a multi-platform service.
type platformImage struct {
	platform string
	img      *dagger.Container
	// emulated: the platform is not the engine's and the Dockerfile runs
	// commands on it (under QEMU).
	emulated bool
	// check is what the architecture check found the image starts.
	check string
}

// enginePlatform is the engine's own platform ("linux/amd64"), asked once.
var enginePlatform = sync.OnceValues(func() (string, error) {
	p, err := dag.DefaultPlatform(context.Background())
	return string(p), err
})

// buildSlotsOnce holds the semaphore of one call's platform builds.
var (
	buildSlotsOnce sync.Once
	buildSlotsCh   chan struct{}
)

// buildSlots is the call's semaphore of platform builds, n wide.
func buildSlots(n int) chan struct{} {
	buildSlotsOnce.Do(func() {
		if n < 1 {
			n = 1
		}
		buildSlotsCh = make(chan struct{}, n)
	})
	return buildSlotsCh
}

// buildPlatforms builds s's image for each of its platforms, in parallel.
// A failure names the platform; nothing is published by this step.
func (m *Slipway) buildPlatforms(ctx context.Context, p *plan.Plan, s plan.Service) ([]platformImage, error) {
	native, err := enginePlatform()
	if err != nil {
		return nil, fmt.Errorf("asking the engine for its platform: %w", err)
	}
	out := make([]platformImage, len(s.Platforms))
	slots := buildSlots(p.Project.Parallelism)
	g, gctx := errgroup.WithContext(ctx)
	for i, pl := range s.Platforms {
		g.Go(func() error {
			// The run's fan-out bound holds for platform builds too: at
			// most parallelism of them at once, over every service.
			select {
			case slots <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			defer func() { <-slots }()
			img, err := m.buildStageFor(p, s, s.Target, pl).Sync(gctx)
			if err != nil {
				return m.buildFailedFor(ctx, p, s, pl, err)
			}
			out[i] = platformImage{platform: pl, img: img, emulated: pl != native && s.RunsOnTarget}
			return nil
		})
	}
	return out, g.Wait()
}

// checkPlatforms proves each platform's image starts an executable of its
// platform (archCheck), in parallel, recording what it found.
func (m *Slipway) checkPlatforms(ctx context.Context, s plan.Service, out []platformImage) error {
	g, gctx := errgroup.WithContext(ctx)
	for i := range out {
		g.Go(func() error {
			what, err := m.archCheck(gctx, out[i].img, out[i].platform)
			if err != nil {
				return fmt.Errorf("%s %s: %w", s.Name, out[i].platform, err)
			}
			out[i].check = what
			return nil
		})
	}
	return g.Wait()
}

// archCheck proves that img, built for platform, says so in its
// configuration and starts an executable of that architecture (through
// PATH, symlinks and a script's interpreter), reading its root filesystem
// in the worker. It returns what the image starts.
func (m *Slipway) archCheck(ctx context.Context, img *dagger.Container, platform string) (string, error) {
	ep, err := img.Entrypoint(ctx)
	if err != nil {
		return "", err
	}
	cmd, err := img.DefaultArgs(ctx)
	if err != nil {
		return "", err
	}
	wd, err := img.Workdir(ctx)
	if err != nil {
		return "", err
	}
	pathEnv, err := img.EnvVariable(ctx, "PATH")
	if err != nil {
		return "", err
	}
	got, err := img.Platform(ctx)
	if err != nil {
		return "", err
	}
	osName, arch, _ := strings.Cut(string(got), "/")
	arch, _, _ = strings.Cut(arch, "/")
	epJSON, _ := json.Marshal(ep)
	cmdJSON, _ := json.Marshal(cmd)
	const root = wire.WorkDir + "/rootfs"
	r, err := execChecked(ctx, m.Worker().WithMountedDirectory(root, img.Rootfs()),
		[]string{wire.WorkerBin, "arch-check", "--root", root, "--platform", platform, "--os", osName, "--arch", arch,
			"--entrypoint-json", string(epJSON), "--cmd-json", string(cmdJSON), "--path", pathEnv, "--workdir", wd})
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(r.stdout), nil
}

// indexTarball is the OCI archive of the images as one multi-platform index.
func indexTarball(imgs []platformImage) *dagger.File {
	variants := make([]*dagger.Container, 0, len(imgs)-1)
	for _, pi := range imgs[1:] {
		variants = append(variants, pi.img)
	}
	return imgs[0].img.AsTarball(dagger.ContainerAsTarballOpts{PlatformVariants: variants})
}

// platformReport is the report's view of a multi-platform build, before
// publishing fills in digests and sizes.
func platformReport(imgs []platformImage) []report.PlatformImage {
	out := make([]report.PlatformImage, 0, len(imgs))
	for _, pi := range imgs {
		out = append(out, report.PlatformImage{Platform: pi.platform, Emulated: pi.emulated, Check: pi.check})
	}
	return out
}
