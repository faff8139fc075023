//go:build !linux

package location

// writeDirect appends rec to the journal file. The caller holds j.mu.
func (j *journal) writeDirect(rec []byte) error {
	_, err := j.f.Write(rec)
	return err
}
