package smoke

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Image is what the pipeline knows of a built image before it runs it.
type Image struct {
	// User is the image's USER ("" when the Dockerfile sets none).
	User string
	// ExposedPorts are the ports the image EXPOSEs.
	ExposedPorts []int
	// Labels are the image's labels.
	Labels map[string]string
}

// ErrPolicy is wrapped by every image policy violation.
var ErrPolicy = errors.New("image policy")

// CheckImage applies the image policy before an image runs: an
// unprivileged user, the service's port exposed, and every required label
// present with a value. dockerfile names the file to fix in the messages.
// Every violation is reported, not only the first.
func CheckImage(img Image, port int, required []string, dockerfile string) error {
	var problems []string
	u := strings.SplitN(img.User, ":", 2)[0]
	if u == "" || u == "root" || u == "0" {
		problems = append(problems, fmt.Sprintf("runs as root (USER %q): add a USER instruction with an unprivileged user to %s", img.User, dockerfile))
	}
	exposed := false
	seen := make([]string, 0, len(img.ExposedPorts))
	for _, p := range img.ExposedPorts {
		exposed = exposed || p == port
		seen = append(seen, strconv.Itoa(p))
	}
	if !exposed {
		if len(seen) == 0 {
			seen = append(seen, "none")
		}
		fix := fmt.Sprintf("add EXPOSE %d to %s", port, dockerfile)
		if len(img.ExposedPorts) == 1 {
			// The image names the port it serves: most likely service.yaml
			// is what is wrong.
			fix = fmt.Sprintf("if the service listens on %d, set port: %d in service.yaml; otherwise %s", img.ExposedPorts[0], img.ExposedPorts[0], fix)
		}
		problems = append(problems, fmt.Sprintf("does not EXPOSE port %d of the service's configuration (it exposes: %s); %s", port, strings.Join(seen, ", "), fix))
	}
	var missing []string
	for _, k := range required {
		if strings.TrimSpace(img.Labels[k]) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("lacks the required label(s) %s (images.requiredLabels in slipway.yaml): add LABEL %s=… to %s", strings.Join(missing, ", "), missing[0], dockerfile))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the image %s", ErrPolicy, strings.Join(problems, "; it "))
}
