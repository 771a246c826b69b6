package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/slipwayci/slipway/internal/archcheck"
)

func init() {
	register("arch-check", "prove that an image's configuration and the executable it starts match its platform", runArchCheck)
}

func runArchCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("arch-check", stderr)
	var img archcheck.Image
	fs.StringVar(&img.Root, "root", "", "the image's root filesystem (required)")
	fs.StringVar(&img.Platform, "platform", "", "the platform the image was built for, e.g. linux/arm64 (required)")
	fs.StringVar(&img.OS, "os", "", "the OS the image configuration names")
	fs.StringVar(&img.Architecture, "arch", "", "the architecture the image configuration names")
	entrypoint := fs.String("entrypoint-json", "[]", "the configuration's ENTRYPOINT, a JSON array")
	cmd := fs.String("cmd-json", "[]", "the configuration's CMD, a JSON array")
	pathEnv := fs.String("path", "", "the configuration's PATH (empty: the runtime's default)")
	fs.StringVar(&img.WorkingDir, "workdir", "", "the configuration's working directory")
	if err := parse(fs, args); err != nil {
		return err
	}
	if img.Root == "" || img.Platform == "" {
		return fmt.Errorf("%w: -root and -platform are required", errUsage)
	}
	if err := json.Unmarshal([]byte(*entrypoint), &img.Entrypoint); err != nil {
		return fmt.Errorf("%w: -entrypoint-json: %v", errUsage, err)
	}
	if err := json.Unmarshal([]byte(*cmd), &img.Cmd); err != nil {
		return fmt.Errorf("%w: -cmd-json: %v", errUsage, err)
	}
	if *pathEnv != "" {
		img.Env = []string{"PATH=" + *pathEnv}
	}
	what, err := archcheck.Check(img)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, what)
	return nil
}
