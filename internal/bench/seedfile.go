package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"example.com/crm/internal/seed"
)

// seedFile is what a run that seeded a kept work dir (-work-dir) leaves
// beside its cluster, so that the next run there uses the same data set
// instead of loading a second copy: the seed of scale 1 takes two
// minutes, and each copy made every later W4 rebuild longer.
type seedFile struct {
	Scale  float64     `json:"scale"`
	Result seed.Result `json:"result"`
}

const seedFileName = "seed.json"

// saveSeed writes res, seeded at scale, to path.
func saveSeed(path string, scale float64, res seed.Result) error {
	b, err := json.MarshalIndent(seedFile{Scale: scale, Result: res}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// loadSeed reads the data set a run seeded at path, if it was seeded at
// scale; found is false when there is none (or another scale's).
func loadSeed(path string, scale float64) (res seed.Result, found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return res, false, nil
	}
	if err != nil {
		return res, false, err
	}
	var f seedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return res, false, fmt.Errorf("%s: %w", path, err)
	}
	if f.Scale != scale {
		return res, false, nil
	}
	return f.Result, true, nil
}
