package sessionapi

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "4.4.0", "4.4.0", 0},
		{"numeric, not alphabetical", "4.10.0", "4.9.0", 1},
		{"more parts is newer", "6.0.7.19", "6.0.7", 1},
		{"neurodesk build dates", "20260117", "20240321", 1},
		{"spm revisions", "r7487", "r7771", -1},
		{"leading v ignored", "v1.2", "1.10", -1},
		{"pre-release is older", "1.0rc1", "1.0", -1},
		{"dashed pre-release is older", "2.7.1-beta", "2.7.1", -1},
		{"rc3 of a later version is newer", "26.0.rc3", "12.9", 1},
		{"number beats word", "1.0.1", "1.0.beta", 1},
		{"words alphabetically, case ignored", "1.0-Alpha", "1.0-beta", -1},
		{"leading zeros: value equal, text decides", "1.00", "1.0", 1},
		{"long build stamps do not overflow", "1.0.20250804", "1.0.20250529", 1},
		{"longer number is larger", "99999999999999999999", "100000000000000000000", -1},
		{"year versions", "2023b", "2022a", 1},
		{"separators only separate", "2024.06.12", "2024-06-11", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, CompareVersions(tt.a, tt.b))
			assert.Equal(t, -tt.want, CompareVersions(tt.b, tt.a), "antisymmetric")
		})
	}
}

func TestCompareVersionsSorts(t *testing.T) {
	t.Parallel()
	versions := []string{"4.0.2", "3.8.0", "4.4.0", "4.10.0", "4.4.0-rc1", "4.2.2"}
	slices.SortFunc(versions, CompareVersions)
	assert.Equal(t, []string{"3.8.0", "4.0.2", "4.2.2", "4.4.0-rc1", "4.4.0", "4.10.0"}, versions)
}
