package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/gitops"
)

// preflightDigest is the image digest a preflight pretends to write.
const preflightDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// Preflight checks, writing nothing, that every service deployed to each of
// envs (every environment when none is given) can be written into the
// GitOps checkout at dir: the environment's directory and the service's
// file exist, the editor finds the service's entry and can write an image
// there, and no two services write the same file and key (they would
// overwrite each other). The images are named as a deploy to registry
// would name them ("" leaves the names in the files), since editors find
// an entry by the name it has now or the one written. It returns every
// problem, each naming the environment, the service, the file and the
// setting to change.
func Preflight(dir string, cfg *config.Config, envs []string, registry string) []string {
	layout := Layout(cfg)
	if len(envs) == 0 {
		envs = cfg.EnvironmentNames()
	}
	var problems []string
	for _, env := range envs {
		e, err := layout.Env(env)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(e.Directory))); err != nil || !st.IsDir() {
			problems = append(problems, fmt.Sprintf("environment %s: the GitOps repository has no directory %s (%s: gitops.path %q, gitops.overlay %q)",
				env, e.Directory, config.ProjectFile, cfg.Project.GitOps.Path, cfg.Project.GitOps.Overlay))
			continue
		}
		writers := map[string]string{}
		for _, s := range cfg.Services {
			if s.Deploy.Skip || !s.DeploysTo(env) {
				continue
			}
			r, err := layout.Resolve(env, s.Name)
			if err != nil {
				problems = append(problems, fmt.Sprintf("environment %s, service %s: %v", env, s.Name, err))
				continue
			}
			where := r.File + " " + r.Key()
			if other, ok := writers[where]; ok {
				problems = append(problems, fmt.Sprintf("environment %s: services %s and %s both write %s in %s: they would overwrite each other; give each its own entry (deploy.key, deploy.imageName or deploy.file in their %s)",
					env, other, s.Name, r.Key(), r.File, config.ServiceFile))
				continue
			}
			writers[where] = s.Name
			change := gitops.Change{Service: s.Name, Digest: preflightDigest}
			if registry != "" {
				change.Image = cfg.Project.ImageRepository(registry, s)
			}
			if _, err := gitops.PlanUpdate(dir, layout, env, []gitops.Change{change}); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	return problems
}

// PreflightError is the error of a failed preflight: every problem, one per
// line.
func PreflightError(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("the GitOps repository cannot take this project's deployments (nothing was built or written):\n  %s", strings.Join(problems, "\n  "))
}
