package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// pgBin is where Debian's postgresql package puts PostgreSQL 15's server binaries.
const pgBin = "/usr/lib/postgresql/15/bin"

// testPostgres is one real PostgreSQL server for the package's tests: started the
// first time a test needs it, stopped by TestMain when they are done. Each test gets
// a database of its own on it.
var testPostgres pgServer

type pgServer struct {
	once sync.Once
	// skip is why there is no server (missing binaries), err why it failed to start.
	skip string
	err  error

	dir   string // temporary directory: data directory, socket, log
	port  int
	cmd   *exec.Cmd
	exit  chan struct{} // closed when the server has exited
	cred  *syscall.Credential
	admin *sql.DB
	dbs   atomic.Int64 // databases created, to name the next
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopPostgres()
	os.Exit(code)
}

// postgresDSN returns the DSN of a fresh, empty database on the test server, or
// skips the test when the server's binaries are not installed.
func postgresDSN(t testing.TB) string {
	t.Helper()
	pg := &testPostgres
	pg.once.Do(func() { pg.err = startPostgres() })
	if pg.skip != "" {
		t.Skip(pg.skip)
	}
	if pg.err != nil {
		t.Fatalf("start PostgreSQL: %v", pg.err)
	}
	name := fmt.Sprintf("results_test_%d", pg.dbs.Add(1))
	if _, err := pg.admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, name)
}

// startPostgres initializes a cluster in a temporary directory and starts the server
// on 127.0.0.1 on a free port. PostgreSQL refuses to run as root, so as root both
// run as the postgres OS user, which owns the directory. The server is the test
// process's own child (not pg_ctl's daemon) with Pdeathsig, so that it dies with the
// test even when a timeout kills the test before TestMain can stop it.
func startPostgres() error {
	pg := &testPostgres
	if _, err := os.Stat(filepath.Join(pgBin, "postgres")); err != nil {
		pg.skip = fmt.Sprintf("PostgreSQL 15 is not installed (%s/postgres: %v): run `make deps` (as root) to test the PostgreSQL backend", pgBin, err)
		return nil
	}
	dir, err := os.MkdirTemp("", "results-pg-")
	if err != nil {
		return err
	}
	pg.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			pg.skip = fmt.Sprintf("PostgreSQL refuses to run as root and there is no postgres user (%v): run `make deps` to install the postgresql package", err)
			return nil
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
	}
	data := filepath.Join(dir, "data")
	// --no-sync and the -c settings below trade durability, which a test server does
	// not need, for speed.
	if out, err := pg.command("initdb", "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	pg.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	pg.cmd = pg.command("postgres", "-D", data, "-k", dir, "-p", strconv.Itoa(pg.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off")
	pg.cmd.Stdout, pg.cmd.Stderr = logFile, logFile
	if err := pg.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	pg.exit = make(chan struct{})
	go func() { pg.cmd.Wait(); close(pg.exit) }()

	pg.admin, err = sql.Open("pgx", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = pg.admin.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-pg.exit:
			log, _ := os.ReadFile(logFile.Name())
			return fmt.Errorf("postgres exited: %v\n%s", pg.cmd.ProcessState, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			return fmt.Errorf("postgres does not accept connections after 30s: %v\n%s", err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// command runs one of PostgreSQL's binaries, as the postgres user when we are root,
// dying with the test process.
func (pg *pgServer) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(pgBin, name), args...)
	cmd.Dir = pg.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: pg.cred}
	return cmd
}

// stopPostgres stops the server at once (no checkpoint: its data is thrown away) and
// removes its directory.
func stopPostgres() {
	pg := &testPostgres
	if pg.admin != nil {
		pg.admin.Close()
	}
	if pg.cmd != nil && pg.cmd.Process != nil {
		if out, err := pg.command("pg_ctl", "stop", "-D", filepath.Join(pg.dir, "data"), "-m", "immediate", "-w").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "pg_ctl stop: %v\n%s", err, strings.TrimSpace(string(out)))
		}
		select {
		case <-pg.exit:
		case <-time.After(10 * time.Second):
			pg.cmd.Process.Kill()
			<-pg.exit
		}
	}
	if pg.dir != "" {
		if err := os.RemoveAll(pg.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "remove %s: %v\n", pg.dir, err)
		}
	}
}
