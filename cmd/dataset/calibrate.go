package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/embtab/embtab/atomicfile"
	"github.com/embtab/embtab/datasets"
	"github.com/spf13/pflag"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// runCalibrate fits a generator preset to real Criteo-layout files and,
// optionally, checks it by generating rows from the fit and plotting their
// curves beside the real ones.
func runCalibrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("dataset calibrate", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.StringSlice("in", nil, "real Criteo-format files to fit (TSV, optionally gzipped); repeat or comma-separate")
	out := fs.String("out", "", "write the fitted preset JSON here (load it with gen --preset FILE.json)")
	name := fs.String("name", "criteo-kaggle", "the preset's name")
	rows := fs.Int64("rows", datasets.KaggleCriteoRows, "real row count at which the fields reach --cardinalities (Criteo Kaggle's train.txt)")
	cards := fs.Int64Slice("cardinalities", datasets.CriteoCardinalities[:], "per-field distinct counts at --rows, C1..C26 (default: Criteo Kaggle's)")
	shuffles := fs.Int("shuffles", 20, "random row orders the real curves are averaged over")
	seed := fs.Uint64("seed", 1, "seed of the shuffles and of the --check-rows generation")
	var label datasets.PresetLabel
	fs.Float64Var(&label.CTR, "ctr", 0.256, "the preset's click rate (Criteo Kaggle: 25.6%)")
	fs.Float64Var(&label.First, "first", 1, "hidden model: weight of the per-value effects")
	fs.Float64Var(&label.Pair, "pair", 1, "hidden model: weight of the pairwise latent interactions")
	fs.Float64Var(&label.Dense, "dense", 1, "hidden model: weight of the linear dense effects")
	fs.Float64Var(&label.DenseBend, "dense-bend", 1, "hidden model: weight of the non-linear dense effects")
	plotPath := fs.String("plot", "", "write a PNG of real vs fitted (and generated) distinct-values curves per field")
	curvesPath := fs.String("curves", "", "write the real (and generated) curves as JSON")
	checkRows := fs.Int64("check-rows", 0, "generate this many rows from the fitted preset and measure their curves (0: skip)")
	asJSON := fs.Bool("json", false, "print a JSON summary as the last stdout line")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dataset calibrate --in FILE[,FILE...] --out PRESET.json [--plot curves.png] [--check-rows N] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	if len(*in) == 0 || *out == "" {
		fs.Usage()
		return errors.New("calibrate needs --in and --out")
	}
	var rs []datasets.RecordReader
	defer func() {
		for _, r := range rs {
			r.Close()
		}
	}()
	for _, path := range *in {
		r, err := datasets.OpenRaw("criteo", path)
		if err != nil {
			return fmt.Errorf("calibrate: %w", err)
		}
		rs = append(rs, r)
	}
	all, err := datasets.ConcatReaders(rs...)
	if err != nil {
		return err
	}
	src := fmt.Sprintf("dataset calibrate --in %s --rows %d --shuffles %d --seed %d --ctr %g --first %g --pair %g --dense %g --dense-bend %g",
		strings.Join(baseNames(*in), ","), *rows, *shuffles, *seed, label.CTR, label.First, label.Pair, label.Dense, label.DenseBend)
	p, real, err := datasets.FitPreset(all, datasets.FitOptions{
		Name: *name, Source: src, Rows: *rows, Cardinalities: *cards,
		Shuffles: *shuffles, Seed: *seed, Label: label,
	})
	if err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := atomicfile.Write(*out, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}); err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	var gen []datasets.FieldCurve
	if *checkRows > 0 {
		g, err := datasets.NewGenerator(datasets.GenConfig{Rows: *checkRows, Seed: *seed, Preset: *out})
		if err != nil {
			return err
		}
		gen, err = datasets.MeasureCurves(g, 0, 0, 0)
		if err != nil {
			return err
		}
	}
	if *curvesPath != "" {
		if err := atomicfile.Write(*curvesPath, func(w io.Writer) error {
			return json.NewEncoder(w).Encode(map[string]any{"real": real, "generated": gen})
		}); err != nil {
			return fmt.Errorf("calibrate: %w", err)
		}
	}
	if *plotPath != "" {
		if err := plotCurves(*plotPath, p, real, gen); err != nil {
			return fmt.Errorf("calibrate: plot: %w", err)
		}
	}
	fmt.Fprintf(stderr, "calibrate: %d real rows, %d fields fitted\n", real[0].Rows, len(p.Fields))
	for f, pf := range p.Fields {
		fmt.Fprintf(stderr, "  %-4s s=%.3f q=%-7.2f N=%-11d missing=%.3f rmsle=%.3f real %d->%.0f distinct, Kaggle %d", pf.Name, pf.S, pf.Q, pf.N, pf.Missing, pf.FitRMSLE, real[f].Present, real[f].Distinct[len(real[f].Distinct)-1], pf.Cardinality)
		if gen != nil {
			fmt.Fprintf(stderr, "; generated %d->%.0f", gen[f].Present, gen[f].Distinct[len(gen[f].Distinct)-1])
		}
		fmt.Fprintln(stderr)
	}
	if *asJSON {
		sum := map[string]any{"out": *out, "real_rows": real[0].Rows, "fields": p.Fields}
		if gen != nil {
			sum["check_rows"] = *checkRows
		}
		b, _ := json.Marshal(sum)
		fmt.Fprintln(stdout, string(b))
	}
	return nil
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

// plotCurves draws one log-log panel per field: the real curve (averaged
// over shuffles), the fitted law's expected curve out to the preset's row
// count, the Kaggle cardinality there, and the generated curve when given.
func plotCurves(path string, p *datasets.Preset, real, gen []datasets.FieldCurve) error {
	const cols = 5
	rowsN := (len(p.Fields) + cols - 1) / cols
	plots := make([][]*plot.Plot, rowsN)
	realColor := color.RGBA{R: 214, G: 39, B: 40, A: 255}
	fitColor := color.RGBA{R: 31, G: 119, B: 180, A: 255}
	genColor := color.RGBA{R: 44, G: 160, B: 44, A: 255}
	for f, pf := range p.Fields {
		pl := plot.New()
		pl.Title.Text = fmt.Sprintf("%s  s=%.2f q=%.3g N=%.3g", pf.Name, pf.S, pf.Q, float64(pf.N))
		pl.Title.TextStyle.Font.Size = vg.Points(9)
		pl.X.Scale, pl.Y.Scale = plot.LogScale{}, plot.LogScale{}
		pl.X.Tick.Marker, pl.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
		pl.X.Tick.Label.Font.Size, pl.Y.Tick.Label.Font.Size = vg.Points(7), vg.Points(7)
		pl.Add(plotter.NewGrid())
		z, err := datasets.NewZipfMandelbrot(pf.S, pf.Q, pf.N)
		if err != nil {
			return err
		}
		nEnd := float64(p.Rows) * (1 - pf.Missing)
		var fit plotter.XYs
		for n := 16.0; n < nEnd*1.01; n *= math.Sqrt2 {
			d, _, _ := z.Expect(min(n, nEnd))
			fit = append(fit, plotter.XY{X: min(n, nEnd), Y: max(d, 1)})
		}
		line, err := plotter.NewLine(fit)
		if err != nil {
			return err
		}
		line.Color = fitColor
		pl.Add(line)
		addPoints := func(c datasets.FieldCurve, col color.Color, shape draw.GlyphDrawer) (*plotter.Scatter, error) {
			xy := make(plotter.XYs, len(c.N))
			for i := range c.N {
				xy[i] = plotter.XY{X: float64(c.N[i]), Y: max(c.Distinct[i], 1)}
			}
			sc, err := plotter.NewScatter(xy)
			if err != nil {
				return nil, err
			}
			sc.Color, sc.Shape, sc.Radius = col, shape, vg.Points(2)
			pl.Add(sc)
			return sc, nil
		}
		rs, err := addPoints(real[f], realColor, draw.CircleGlyph{})
		if err != nil {
			return err
		}
		var gs *plotter.Scatter
		if gen != nil {
			if gs, err = addPoints(gen[f], genColor, draw.CrossGlyph{}); err != nil {
				return err
			}
		}
		end, err := plotter.NewScatter(plotter.XYs{{X: nEnd, Y: float64(pf.Cardinality)}})
		if err != nil {
			return err
		}
		end.Color, end.Shape, end.Radius = color.Black, draw.BoxGlyph{}, vg.Points(3)
		pl.Add(end)
		if f == 0 {
			pl.Legend.Add("real (shuffled)", rs)
			pl.Legend.Add("fitted law", line)
			if gs != nil {
				pl.Legend.Add("generated", gs)
			}
			pl.Legend.Add("Kaggle cardinality", end)
			pl.Legend.Top, pl.Legend.Left = true, true
			pl.Legend.TextStyle.Font.Size = vg.Points(7)
		}
		plots[f/cols] = append(plots[f/cols], pl)
	}
	for len(plots[rowsN-1]) < cols {
		plots[rowsN-1] = append(plots[rowsN-1], nil)
	}
	const panel = 3.2
	img := vgimg.New(vg.Length(cols*panel)*vg.Inch, vg.Length(float64(rowsN)*panel*0.8)*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rowsN, Cols: cols, PadX: vg.Millimeter, PadY: vg.Millimeter, PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: vg.Millimeter}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j, pl := range plots[i] {
			if pl != nil {
				pl.Draw(canvases[i][j])
			}
		}
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	})
}
