package datasets

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	avazuTestHeader = "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,C18,C19,C20,C21"
	avazuTestRow1   = "10000169349117863715,0,14102100,1005,0,1fbe01fe,f3845767,28905ebd,ecad2386,7801e8d9,07d7df22,a99f214a,96809ac8,711ee120,1,0,15704,320,50,1722,0,35,100084,79"
	avazuTestRow2   = "10004510652136496837,1,14102813,1005,0,543a539e,c7ca3108,3e814130,ecad2386,7801e8d9,07d7df22,a99f214a,8a308c73,3223bcfe,1,0,20352,320,50,2333,0,39,-1,157"
)

// avazuTestRow returns avazuTestRow1 with the fields set by edit replaced.
func avazuTestRow(edit map[int]string) string {
	f := strings.Split(avazuTestRow1, ",")
	for i, v := range edit {
		f[i] = v
	}
	return strings.Join(f, ",")
}

func TestAvazuSchema(t *testing.T) {
	s, err := SchemaFor("avazu")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"hour", "C1", "banner_pos", "site_id", "site_domain", "site_category",
		"app_id", "app_domain", "app_category", "device_id", "device_ip", "device_model",
		"device_type", "device_conn_type", "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21",
		"hour_of_day", "weekday"}
	if !slices.Equal(s.Categorical, want) {
		t.Errorf("categorical = %v", s.Categorical)
	}
	if s.Dataset != "avazu" || s.Label != "click" || s.NumDense() != 0 ||
		s.Timestamp != "timestamp" || !slices.Equal(s.Extra, []string{"id"}) {
		t.Errorf("schema = %+v", s)
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

func TestAvazuGoodRows(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		gz      bool
	}{
		{"header", avazuTestHeader + "\n" + avazuTestRow1 + "\n" + avazuTestRow2 + "\n", false},
		{"no header", avazuTestRow1 + "\n" + avazuTestRow2 + "\n", false},
		{"bom header", "\ufeff" + avazuTestHeader + "\n" + avazuTestRow1 + "\n" + avazuTestRow2 + "\n", false},
		{"bom no header", "\ufeff" + avazuTestRow1 + "\n" + avazuTestRow2 + "\n", false},
		{"crlf header", avazuTestHeader + "\r\n" + avazuTestRow1 + "\r\n" + avazuTestRow2 + "\r\n", false},
		{"gzip no final newline", avazuTestHeader + "\n" + avazuTestRow1 + "\n" + avazuTestRow2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.content)
			if tc.gz {
				data = gzipRawBytes(t, data)
			}
			path := writeRawFile(t, "train.csv", data)
			r, err := OpenRaw("avazu", path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			res := readAllRaw(t, r)
			if res.err != nil || len(res.rowErrs) != 0 || len(res.recs) != 2 {
				t.Fatalf("got %d records, %v, %v", len(res.recs), res.rowErrs, res.err)
			}
			r0, r1 := res.recs[0], res.recs[1]
			if r0.Label != 0 || r1.Label != 1 {
				t.Errorf("labels %d %d", r0.Label, r1.Label)
			}
			if r0.Extra[0] != "10000169349117863715" {
				t.Errorf("id = %q", r0.Extra[0])
			}
			wantCat := append(strings.Split(avazuTestRow1, ",")[2:], "00", "Tue")
			if !slices.Equal(r0.Cat, wantCat) {
				t.Errorf("cat = %q\nwant %q", r0.Cat, wantCat)
			}
			// 2014-10-21 00:00 UTC was a Tuesday; 2014-10-28 13:00 too.
			if want := time.Date(2014, 10, 21, 0, 0, 0, 0, time.UTC).Unix(); r0.Timestamp != want || want != 1413849600 {
				t.Errorf("timestamp = %d, want %d", r0.Timestamp, want)
			}
			if want := time.Date(2014, 10, 28, 13, 0, 0, 0, time.UTC).Unix(); r1.Timestamp != want {
				t.Errorf("timestamp = %d, want %d", r1.Timestamp, want)
			}
			if r1.Cat[0] != "14102813" || r1.Cat[22] != "13" || r1.Cat[23] != "Tue" || r1.Cat[21] != "157" || r1.Cat[20] != "-1" {
				t.Errorf("cat = %q", r1.Cat)
			}
		})
	}
}

func TestAvazuWeekdays(t *testing.T) {
	var buf bytes.Buffer
	want := []string{"Wed", "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Sat", "Mon"}
	hours := []string{"14102201", "14102302", "14102403", "14102504", "14102605", "14102706", "14102807", "00010123", "16022923"}
	for _, h := range hours {
		buf.WriteString(avazuTestRow(map[int]string{2: h}) + "\n")
	}
	r, err := OpenAvazu(writeRawFile(t, "w.csv", buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res := readAllRaw(t, r)
	if res.err != nil || len(res.rowErrs) != 0 {
		t.Fatal(res.err, res.rowErrs)
	}
	for i, rec := range res.recs {
		tm, _ := time.Parse("06010215", hours[i])
		if rec.Cat[23] != want[i] || rec.Timestamp != tm.Unix() || rec.Cat[22] != hours[i][6:] {
			t.Errorf("%s: weekday %s ts %d hour_of_day %s, want %s %d %s",
				hours[i], rec.Cat[23], rec.Timestamp, rec.Cat[22], want[i], tm.Unix(), hours[i][6:])
		}
	}
}

func TestAvazuBadRows(t *testing.T) {
	cases := []struct {
		name, line, field, msg string
	}{
		{"23 fields", strings.Join(strings.Split(avazuTestRow1, ",")[:23], ","), "", "want 24 comma-separated fields, got 23"},
		{"25 fields", avazuTestRow1 + ",x", "", "want 24 comma-separated fields, got 25"},
		{"tab separated", strings.ReplaceAll(avazuTestRow1, ",", "\t"), "", "got 1"},
		{"click 2", avazuTestRow(map[int]string{1: "2"}), "click", `want 0 or 1, got "2"`},
		{"click empty", avazuTestRow(map[int]string{1: ""}), "click", `want 0 or 1, got ""`},
		{"click 10", avazuTestRow(map[int]string{1: "10"}), "click", `got "10"`},
		{"hour 7 digits", avazuTestRow(map[int]string{2: "1410210"}), "hour", `want YYMMDDHH, got "1410210"`},
		{"hour letters", avazuTestRow(map[int]string{2: "14x02100"}), "hour", "want YYMMDDHH"},
		{"hour empty", avazuTestRow(map[int]string{2: ""}), "hour", "want YYMMDDHH"},
		{"hour 24", avazuTestRow(map[int]string{2: "14102124"}), "hour", "invalid date or hour"},
		{"month 13", avazuTestRow(map[int]string{2: "14132100"}), "hour", "invalid date or hour"},
		{"month 0", avazuTestRow(map[int]string{2: "14002100"}), "hour", "invalid date or hour"},
		{"day 0", avazuTestRow(map[int]string{2: "14100000"}), "hour", "invalid date or hour"},
		{"Feb 29 2014", avazuTestRow(map[int]string{2: "14022900"}), "hour", "invalid date or hour"},
		{"Nov 31", avazuTestRow(map[int]string{2: "14113100"}), "hour", "invalid date or hour"},
		{"bad utf8", avazuTestRow(map[int]string{5: "\xfe"}), "site_id", "not valid UTF-8"},
		{"empty", "", "", "got 1"},
	}
	var buf bytes.Buffer
	buf.WriteString(avazuTestHeader + "\n")
	for _, c := range cases {
		buf.WriteString(c.line + "\n" + avazuTestRow2 + "\n")
	}
	path := writeRawFile(t, "bad.csv", buf.Bytes())
	r, err := OpenAvazu(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec := NewRecord(r.Schema())
	for i, c := range cases {
		err := r.Read(rec)
		var rowErr *RowError
		if !errors.As(err, &rowErr) {
			t.Fatalf("%s: got %v, want a *RowError", c.name, err)
		}
		wantLine := int64(2*i + 2) // after the header
		if rowErr.File != path || rowErr.Line != wantLine || rowErr.Field != c.field {
			t.Errorf("%s: error at %s:%d field %q, want %s:%d field %q",
				c.name, rowErr.File, rowErr.Line, rowErr.Field, path, wantLine, c.field)
		}
		if !strings.Contains(rowErr.Err.Error(), c.msg) {
			t.Errorf("%s: message %q does not contain %q", c.name, rowErr.Err, c.msg)
		}
		if err := r.Read(rec); err != nil || rec.Cat[0] != "14102813" {
			t.Fatalf("%s: good row after it: %v %q", c.name, err, rec.Cat)
		}
	}
	if err := r.Read(rec); err != io.EOF {
		t.Errorf("at end: %v", err)
	}
}

func TestAvazuHeaderOnly(t *testing.T) {
	r, err := OpenAvazu(writeRawFile(t, "h.csv", []byte(avazuTestHeader+"\n")))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Read(NewRecord(r.Schema())); err != io.EOF {
		t.Errorf("header-only file: %v", err)
	}
}

func TestAvazuWrongHeader(t *testing.T) {
	header := strings.Replace(avazuTestHeader, "C1,banner_pos", "banner_pos,C1", 1)
	path := writeRawFile(t, "h.csv", []byte(header+"\n"+avazuTestRow1+"\n"))
	r, err := OpenAvazu(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec := NewRecord(r.Schema())
	err = r.Read(rec)
	var rowErr *RowError
	if err == nil || errors.As(err, &rowErr) || !strings.Contains(err.Error(), path+":1: header") {
		t.Errorf("wrong header: %v, want a fatal error naming %s:1", err, path)
	}
	if err2 := r.Read(rec); err2 != err {
		t.Errorf("error not sticky: %v", err2)
	}
}

func TestAvazuHeaderOnlyOnFirstLine(t *testing.T) {
	path := writeRawFile(t, "h.csv", []byte(avazuTestRow1+"\n"+avazuTestHeader+"\n"))
	r, err := OpenAvazu(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res := readAllRaw(t, r)
	if len(res.recs) != 1 || len(res.rowErrs) != 1 || res.rowErrs[0].Line != 2 || res.rowErrs[0].Field != "click" {
		t.Errorf("got %d records, row errors %v", len(res.recs), res.rowErrs)
	}
}

func TestAvazuNoAllocs(t *testing.T) {
	var buf bytes.Buffer
	for range 1000 {
		buf.WriteString(avazuTestRow1 + "\n" + avazuTestRow2 + "\n")
	}
	src, err := newLineSource("mem", bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	r := newAvazuReader(src)
	rec := NewRecord(r.Schema())
	allocs := testing.AllocsPerRun(500, func() {
		if err := r.Read(rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Read allocates %.1f times per row", allocs)
	}
}

// BenchmarkAvazuRead measures the reader over an in-memory stream.
func BenchmarkAvazuRead(b *testing.B) {
	var buf bytes.Buffer
	for range 4096 {
		buf.WriteString(avazuTestRow1 + "\n" + avazuTestRow2 + "\n")
	}
	data := buf.Bytes()
	rows := bytes.Count(data, []byte("\n"))
	b.SetBytes(int64(len(data) / rows))
	b.ReportAllocs()
	var r *avazuReader
	rec := NewRecord(avazuSchema())
	for i := 0; i < b.N; i++ {
		if i%rows == 0 {
			b.StopTimer()
			src, err := newLineSource("mem", bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			r = newAvazuReader(src)
			b.StartTimer()
		}
		if err := r.Read(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
