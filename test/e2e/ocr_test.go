package e2e

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The desktop's menus are GTK widgets drawn into the session's X server:
// nothing outside the pixels says where an item is. The demo test reads
// them off the screen as a person does, with tesseract's OCR, and clicks
// where the words are.

// ocrScale enlarges the screenshot before OCR: the menu's 10-point text
// at 96 dpi is too small for tesseract as it is.
const ocrScale = 3

// ocrWord is one word tesseract read, in screen pixels.
type ocrWord struct {
	Text       string
	X, Y, W, H int
}

// ocrLine is the words of one line of text, left to right.
type ocrLine []ocrWord

func (l ocrLine) text() string {
	var parts []string
	for _, w := range l {
		parts = append(parts, w.Text)
	}
	return strings.Join(parts, " ")
}

// has reports whether the line reads label, in any case. A menu item's
// icon reads as a stray word or two before its label ("@ Graphics").
func (l ocrLine) has(label string) bool {
	return strings.Contains(strings.ToLower(l.text()), strings.ToLower(label))
}

// centre is the middle of the line's words.
func (l ocrLine) centre() (int, int) {
	x0, y0, x1, y1 := l[0].X, l[0].Y, l[0].X+l[0].W, l[0].Y+l[0].H
	for _, w := range l[1:] {
		x0, y0 = min(x0, w.X), min(y0, w.Y)
		x1, y1 = max(x1, w.X+w.W), max(y1, w.Y+w.H)
	}
	return (x0 + x1) / 2, (y0 + y1) / 2
}

// ocrScreen reads every line of text in the region (x, y, w, h) of the
// screenshot png. The desktop's theme draws light text on dark menus;
// tesseract reads dark on light, so the crop is negated.
func ocrScreen(t *testing.T, png string, x, y, w, h int) []ocrLine {
	t.Helper()
	big := strings.TrimSuffix(png, ".png") + "-ocr.png"
	out, err := exec.Command("convert", png, "-crop", fmt.Sprintf("%dx%d+%d+%d", w, h, x, y), "+repage",
		"-resize", fmt.Sprintf("%d%%", ocrScale*100), "-colorspace", "Gray", "-negate", big).CombinedOutput()
	require.NoError(t, err, "convert: %s", out)
	// psm 11: sparse text, as menus are (no paragraphs to find).
	out, err = exec.Command("tesseract", big, "stdout", "--psm", "11", "tsv").Output()
	require.NoError(t, err, "tesseract on %s", big)
	return parseTSV(string(out), x, y)
}

// parseTSV turns tesseract's TSV into lines, in screen pixels: level-5 rows
// are words, keyed by block, paragraph and line.
func parseTSV(tsv string, x0, y0 int) []ocrLine {
	var lines []ocrLine
	index := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(tsv))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 12 || f[0] != "5" {
			continue
		}
		text := strings.TrimSpace(f[11])
		conf, _ := strconv.ParseFloat(f[10], 64)
		if text == "" || conf < 30 {
			continue
		}
		n := make([]int, 4)
		for i := range n {
			n[i], _ = strconv.Atoi(f[6+i])
		}
		w := ocrWord{Text: text, X: x0 + n[0]/ocrScale, Y: y0 + n[1]/ocrScale, W: n[2] / ocrScale, H: n[3] / ocrScale}
		key := f[2] + "/" + f[3] + "/" + f[4]
		i, ok := index[key]
		if !ok {
			i = len(lines)
			index[key] = i
			lines = append(lines, nil)
		}
		lines[i] = append(lines[i], w)
	}
	return lines
}

// screenRegion is a rectangle of the screen.
type screenRegion struct{ X, Y, W, H int }

var rootChild = regexp.MustCompile(`^\s+(0x[0-9a-f]+) .*\s(\d+)x(\d+)\+(-?\d+)\+(-?\d+)\s+\+-?\d+\+-?\d+$`)

// popups are the visible override-redirect windows of the display, as GTK
// draws its menus: where to read the menu's text, away from the busy
// wallpaper. Smaller windows (GTK keeps 10x10 ones off screen) are left out.
func (x *xDisplay) popups() []screenRegion {
	x.t.Helper()
	out, err := x.run("xwininfo", "-root", "-children")
	require.NoError(x.t, err, "xwininfo: %s", out)
	var regions []screenRegion
	for _, line := range strings.Split(out, "\n") {
		m := rootChild.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n := make([]int, 4)
		for i := range n {
			n[i], _ = strconv.Atoi(m[2+i])
		}
		if n[0] < 60 || n[1] < 20 { // a menu of one item is ~30 px high
			continue
		}
		stats, err := x.run("xwininfo", "-id", m[1], "-stats")
		if err != nil || !strings.Contains(stats, "IsViewable") || !strings.Contains(stats, "Override Redirect State: yes") {
			continue
		}
		regions = append(regions, screenRegion{X: n[2], Y: n[3], W: n[0], H: n[1]})
	}
	return regions
}

// desktopMenu clicks through the desktop's menus in the browser's noVNC
// view (the lab driver's desktop page) and reads them off the session's X
// display.
type desktopMenu struct {
	t     *testing.T
	lab   *labDriver
	x     *xDisplay
	shots string
	n     int
}

// menuTimeout bounds the wait for a menu to show what is asked of it (a
// submenu opens in ~0.2 s; OCR takes a second or two on 2 cores).
const menuTimeout = time.Minute

// menuText is what OCR read of one open menu.
type menuText struct {
	region screenRegion
	lines  []ocrLine
}

// read takes one screenshot of the session's display and reads each open
// menu at or right of minX; it returns the screenshot's path too.
func (m *desktopMenu) read(minX int) (string, []menuText) {
	m.t.Helper()
	m.n++
	shot := filepath.Join(m.shots, fmt.Sprintf("demo-menu-%d.png", m.n))
	m.x.screenshot(shot)
	var menus []menuText
	for _, r := range m.x.popups() {
		if r.X >= minX {
			menus = append(menus, menuText{region: r, lines: ocrScreen(m.t, shot, r.X, r.Y, r.W, r.H)})
		}
	}
	return shot, menus
}

// lookup finds the line that reads label in menus.
func lookup(menus []menuText, label string) (ocrLine, menuText, bool) {
	for _, mt := range menus {
		for _, l := range mt.lines {
			if l.has(label) {
				return l, mt, true
			}
		}
	}
	return nil, menuText{}, false
}

// find waits until an open menu at or right of minX shows a line that
// reads label, and returns it, the menu it is in, and every line of that
// menu.
func (m *desktopMenu) find(label string, minX int) (ocrLine, screenRegion, []ocrLine) {
	m.t.Helper()
	deadline := time.Now().Add(menuTimeout)
	for {
		shot, menus := m.read(minX)
		if l, mt, ok := lookup(menus, label); ok {
			return l, mt.region, mt.lines
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, mt := range menus {
				for _, l := range mt.lines {
					seen = append(seen, l.text())
				}
			}
			m.t.Fatalf("no %q in a menu right of x=%d within %s; OCR read %q (%s)", label, minX, menuTimeout, seen, shot)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// click finds label in a menu at or right of minX, clicks it through the
// browser, and returns the right edge of its menu (where its submenu
// opens) and the menu's lines.
func (m *desktopMenu) click(label string, minX int) (int, []ocrLine) {
	m.t.Helper()
	l, r, lines := m.find(label, minX)
	cx, cy := l.centre()
	m.t.Logf("menu: %q at (%d, %d)", l.text(), cx, cy)
	m.lab.do(map[string]any{"cmd": "desktop-click", "x": cx, "y": cy})
	return r.X + r.W - 8, lines
}

// applicationsButton is where XFCE's panel (images/desktop/xdg) has its
// "Applications" menu button, in screen pixels.
var applicationsButton = [2]int{40, 12}

// openApplications clicks the panel's Applications button until its menu
// lists want: XFCE's menu reads the menu files when it opens, and an open
// menu does not show entries written meanwhile, so a person closes and
// opens it again.
func (m *desktopMenu) openApplications(want string) {
	m.t.Helper()
	deadline := time.Now().Add(menuTimeout)
	clickButton := func() {
		m.lab.do(map[string]any{"cmd": "desktop-click", "x": applicationsButton[0], "y": applicationsButton[1]})
		time.Sleep(time.Second)
	}
	for {
		clickButton()
		_, menus := m.read(0)
		if _, _, ok := lookup(menus, want); ok {
			return
		}
		if len(menus) > 0 {
			clickButton() // open without want: close it, to open it again
		}
		require.True(m.t, time.Now().Before(deadline), "the Applications menu does not list %q within %s", want, menuTimeout)
	}
}
