package trainer

// Export of trained models as serving artifacts (package artifact), and
// the read-back of checkpoints that cmd/export and tests use.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/densenet"
	"github.com/embtab/embtab/dimsearch"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
)

// ArtifactDir is the name of the serving artifact Train writes inside
// Config.Out at the end of a run.
const ArtifactDir = "model"

// DenseSaver is what ExportArtifact needs of a dense net: its state in the
// DenseState encoding (Save in dense_state.go), which also carries its
// ModelConfig. GoMLXNet has it, as does any net that checkpoints in that
// format.
type DenseSaver interface {
	Save(w io.Writer) error
}

// ExportArtifact writes table and net, trained under cfg on data of the
// given schema, as a serving artifact at dir (replacing one that is
// there), with fp32 rows (cmd/export re-quantizes it), or for a table
// trained in int8 (cfg.Storage int8 or alpt) with its int8 rows as they
// are, and for alpt4 with its rows as the int4 rows they are. The manifest records
// the schema, the effective hash seed (hashing.DefaultSeed when
// cfg.HashSeed is 0, as the batch readers use), the table's method and
// config, the net's ModelConfig and cfg itself. See package artifact for
// the layout and the crash guarantee.
func ExportArtifact(dir string, table embedding.Table, net DenseSaver, schema *datasets.Schema, cfg Config) error {
	return exportArtifact(dir, table, net, schema, cfg, nil)
}

// PlanExtra is the name of the extra artifact file (artifact.Contents.Extra)
// holding the dimension plan a table was built with: the per-field
// dimensions, kept-row counts and bytes (the kept ids themselves are the
// full table's vocabulary file).
const PlanExtra = "dimplan.json"

// exportArtifact is ExportArtifact with the run's dimension plan (nil for
// none) stored as the extra file PlanExtra.
func exportArtifact(dir string, table embedding.Table, net DenseSaver, schema *datasets.Schema, cfg Config, plan *dimsearch.Plan) error {
	var extra map[string]func(io.Writer) error
	if plan != nil {
		p := *plan
		p.Kept, p.KeptFile, p.KeptCRC = nil, "", 0
		js, err := json.MarshalIndent(&p, "", "  ")
		if err != nil {
			return fmt.Errorf("export artifact: dimension plan: %w", err)
		}
		extra = map[string]func(io.Writer) error{PlanExtra: func(w io.Writer) error {
			_, err := w.Write(append(js, '\n'))
			return err
		}}
	}
	var state bytes.Buffer
	if err := net.Save(&state); err != nil {
		return fmt.Errorf("export artifact: dense net: %w", err)
	}
	st, err := densenet.ReadState(bytes.NewReader(state.Bytes()))
	if err != nil {
		return fmt.Errorf("export artifact: dense net: %w", err)
	}
	model, err := json.Marshal(st.Config)
	if err != nil {
		return fmt.Errorf("export artifact: model config: %w", err)
	}
	training, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("export artifact: training config: %w", err)
	}
	seed := cfg.HashSeed
	if seed == 0 {
		seed = hashing.DefaultSeed
	}
	layout, _, err := bagLayout(schema, &cfg)
	if err != nil {
		return fmt.Errorf("export artifact: %w", err)
	}
	codec := "" // fp32
	switch cfg.Storage {
	case embedding.StorageInt8, embedding.StorageALPT:
		codec = "int8" // the trained codes as they are
	case embedding.StorageALPT4:
		codec = "int4"
	}
	_, err = artifact.Write(dir, artifact.Contents{
		Schema: schema, HashSeed: seed, Table: table, Model: model, Training: training, Codec: codec, Slots: layout,
		Dense: func(w io.Writer) error {
			_, err := w.Write(state.Bytes())
			return err
		},
		Extra: extra,
	}, artifact.WriteOptions{Replace: true})
	if err != nil {
		return fmt.Errorf("export artifact: %w", err)
	}
	return nil
}

// CheckpointNet is a dense net read back from a checkpoint: it predicts,
// describes itself and saves its state (GoMLXNet and densenet.Net).
type CheckpointNet interface {
	DenseNet
	Config() ModelConfig
	Save(w io.Writer) error
}

// Checkpoint is a training run's state read back from its checkpoint
// file: the trained table and dense net, the run's configuration and its
// position.
type Checkpoint struct {
	Config Config
	Table  embedding.Trainable
	// Net is the dense net the run trained with (Config.Dense): the native
	// one unless the run chose GoMLX.
	Net CheckpointNet
	// Epoch is the epoch in progress (Config.Epochs once the run is
	// done) and Step the number of steps trained.
	Epoch int
	Step  int64
}

// ReadCheckpoint validates and loads the checkpoint file at path (see
// checkpoint.go for its layout). The table is rebuilt from the config in
// its own stream, whatever its method.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	ck, err := openCheckpoint(path)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	meta := ck.meta
	table, err := loadTable(meta.Config.Table, ck.table)
	if err != nil {
		return nil, fmt.Errorf("%s: embedding table: %w", path, err)
	}
	var net CheckpointNet
	if meta.Config.Dense == DenseGoMLX {
		gn, err := LoadDenseNet(io.NewSectionReader(ck.net, 0, ck.net.Size()))
		if err != nil {
			return nil, fmt.Errorf("%s: dense net: %w", path, err)
		}
		net = gn
	} else {
		nn, err := densenet.Load(io.NewSectionReader(ck.net, 0, ck.net.Size()))
		if err != nil {
			return nil, fmt.Errorf("%s: dense net: %w", path, err)
		}
		net = nn
	}
	return &Checkpoint{Config: meta.Config, Table: table, Net: net, Epoch: meta.Epoch, Step: meta.Step}, nil
}

// loadTable restores the table of method (the run's --table) from its
// saved stream, the section r, through the method's registered Load.
func loadTable(method string, r *io.SectionReader) (embedding.Trainable, error) {
	m, err := embedding.MethodByName(method)
	if err != nil {
		return nil, err
	}
	return m.Load(io.NewSectionReader(r, 0, r.Size()))
}

// ExportCheckpoint exports the model in run directory out's checkpoint
// (written by Train with Config.Out = out) as an artifact at dir. The
// schema is read from the run's training data, which must still be where
// the run read it.
func ExportCheckpoint(out, dir string) error {
	ck, err := ReadCheckpoint(filepath.Join(out, CheckpointFile))
	if err != nil {
		return err
	}
	cfg := ck.Config
	src, err := openBatches(&cfg, cfg.Format, cfg.Data, datasets.BatchOptions{BatchSize: 1, Limit: 1})
	if err != nil {
		return fmt.Errorf("export %s: schema of the training data: %w", out, err)
	}
	schema := src.Schema()
	src.Close()
	var plan *dimsearch.Plan
	switch planPath := filepath.Join(out, PlanFile); {
	case cfg.DimPlan != "":
		planPath = cfg.DimPlan
		fallthrough
	case cfg.DimSearch != "":
		if plan, err = dimsearch.ReadPlan(planPath); err != nil {
			return fmt.Errorf("export %s: %w", out, err)
		}
	}
	return exportArtifact(dir, ck.Table, ck.Net, schema, cfg, plan)
}
