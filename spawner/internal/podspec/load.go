package podspec

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// LoadSettings reads the operator's default settings from a YAML file and
// lays them over base: keys the file leaves out keep base's value. Unknown
// keys are errors, so a misspelt setting stops the service at start instead
// of being ignored.
func LoadSettings(path string, base Settings) (Settings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Settings{}, fmt.Errorf("read defaults: %w", err)
	}
	s := base
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return Settings{}, fmt.Errorf("defaults %s: %w", path, err)
	}
	return s, nil
}
