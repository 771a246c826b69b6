package plan

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Shard is one of N parts of a monorepo's services, for splitting a run
// across CI runners (`ci --shard K/N`).
type Shard struct {
	// K is this shard, 1..N.
	K int
	// N is the number of shards.
	N int
}

// ParseShard reads "K/N" (1 <= K <= N).
func ParseShard(s string) (Shard, error) {
	k, n, ok := strings.Cut(strings.TrimSpace(s), "/")
	ki, err1 := strconv.Atoi(k)
	ni, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || ni < 1 || ki < 1 || ki > ni {
		return Shard{}, fmt.Errorf("--shard %q: want K/N with 1 <= K <= N, e.g. 1/3", s)
	}
	return Shard{K: ki, N: ni}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// Owns reports whether the service belongs to this shard. The assignment
// depends on the service's name and N only: adding or removing another
// service never moves a service to another shard, and every runner of a
// matrix computes the same split without talking to the others.
func (s Shard) Owns(service string) bool {
	if s.N <= 1 {
		return true
	}
	h := sha256.Sum256([]byte(service))
	return int(binary.BigEndian.Uint64(h[:8])%uint64(s.N))+1 == s.K
}

// ServiceInfo is one line of `services --format json`: what a CI matrix
// needs to fan out over the services.
type ServiceInfo struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	// Affected is true when the service must be tested and built (no image
	// from the same inputs exists, or the run forces a rebuild).
	Affected    bool   `json:"affected"`
	InputDigest string `json:"inputDigest"`
	// Image is the existing image's digest reference when not affected,
	// else the repository a build would publish to.
	Image string `json:"image"`
	// Shard is the K of `--shard K/N` this service falls in, when the
	// listing was asked for N shards.
	Shard int `json:"shard,omitempty"`
	// Platforms are the platforms the image is built for (none: the
	// engine's own).
	Platforms []string `json:"platforms,omitempty"`
}

// ServiceList renders the selected services of p as JSON for a CI matrix;
// with shards > 0 every entry also names its shard.
func (p *Plan) ServiceList(shards int) ([]byte, error) {
	out := []ServiceInfo{}
	for _, s := range p.Services {
		if !s.Selected {
			continue
		}
		info := ServiceInfo{Name: s.Name, Language: s.Language, Affected: s.Affected(), InputDigest: s.Inputs.Digest, Image: s.Repository, Platforms: s.Platforms}
		if s.Existing != "" {
			info.Image = s.Existing
		}
		if shards > 0 {
			for k := 1; k <= shards; k++ {
				if (Shard{K: k, N: shards}).Owns(s.Name) {
					info.Shard = k
				}
			}
		}
		out = append(out, info)
	}
	return json.MarshalIndent(out, "", "  ")
}
