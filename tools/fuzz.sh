#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 60), one after another, seeded
# from the fixture archives, with libFuzzer's limits on: any single allocation over
# MALLOC_MB (default 256) MB, a resident set over RSS_MB (default 1024) MB, or one input
# taking over 10 s is a failure, as is a panic. Needs a nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`); installs cargo-fuzz if missing.
#
#   tools/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
malloc_mb=${MALLOC_MB:-256}
rss_mb=${RSS_MB:-1024}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^pgsurge-fuzz$')
fi

seed() { # target: copy the fixtures it reads into its corpus, once
  local corpus=fuzz/corpus/$1
  [[ -d $corpus ]] && return
  mkdir -p "$corpus"
  case $1 in
    archive_open) for f in testdata/dumps/*/*.dump testdata/dumps/*/*.tar; do cp "$f" "$corpus/$(basename "$(dirname "$f")")-$(basename "$f")"; done ;;
    tar_index) for f in testdata/dumps/*/*.tar; do cp "$f" "$corpus/$(basename "$(dirname "$f")")-$(basename "$f")"; done ;;
    list_and_filter) cp testdata/golden/lists/* testdata/golden/filters/* "$corpus"/ 2>/dev/null || true ;;
    conninfo) printf '%s' 'postgresql://app:secret@db.example:5433/app?sslmode=require&password=x' >"$corpus/uri"
      printf '%s' "host=/tmp port=5432 dbname='my db' password='s\\'cret' user=app" >"$corpus/kv" ;;
    groupable) # pg_restore scripts of the fixtures, cut at their blank lines into commands
      local i=0
      for f in testdata/golden/*src.custom.gzip.dump__-f_-.stdout.gz; do
        [[ -f $f ]] || continue
        zcat "$f" | awk -v dir="$corpus" -v base="$i" 'BEGIN{RS=""} {f = dir "/" base "-" NR ".sql"; print > f; close(f)}'
        i=$((i + 1))
      done ;;
    constraints) # FK CONSTRAINT and CONSTRAINT definitions as pg_dump writes them
      printf 'ALTER TABLE ONLY public.child\n    ADD CONSTRAINT child_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES public.parent(id) ON DELETE CASCADE;\n' >"$corpus/fk"
      printf 'ALTER TABLE ONLY "My S"."T. x"\n    ADD CONSTRAINT "fk ""1"" ;" FOREIGN KEY (a) REFERENCES "My S".p(id) DEFERRABLE INITIALLY DEFERRED;\n' >"$corpus/fk-quoted"
      printf 'ALTER TABLE ONLY public.big\n    ADD CONSTRAINT big_pkey PRIMARY KEY (id);\n' >"$corpus/pkey"
      printf 'ALTER TABLE ONLY "S x".big\n    ADD CONSTRAINT "big v" UNIQUE (v) INCLUDE (w) WITH (fillfactor='"'"'70'"'"');\n' >"$corpus/unique" ;;
    script_reader) # whole plain scripts: pg_restore's of the fixtures, and hand-made hostile ones
      local i=0
      for f in testdata/golden/*__-f_-.stdout.gz; do
        [[ -f $f ]] || continue
        zcat "$f" >"$corpus/$i.sql"
        i=$((i + 1))
        [[ $i -ge 40 ]] && break
      done
      printf 'COPY t FROM stdin; SELECT 1;\n1\n\\.\n\\restrict a\n\\unrestrict a\n\\! id\n' >"$corpus/hostile"
      printf "SET standard_conforming_strings = off;\nSELECT 'a\\\\'; b' ;\nCREATE FUNCTION f() BEGIN ATOMIC SELECT 1; END;\n" >"$corpus/strings" ;;
    bundle_open) # backup bundles as people keep them: a dump of each shape beside files and a manifest
      local src=testdata/dumps/pg18 work
      work=$(mktemp -d)
      mkdir -p "$work/b/db" "$work/b/uploads/2024" "$work/b/storage"
      cp "$src/src.custom.none.dump" "$work/b/db/app.dump"
      cp -r "$src/src.dir.none" "$work/b/db/dir"
      printf -- '--\n-- PostgreSQL database dump\n--\n\nSELECT 1;\n' >"$work/b/db/app.sql"
      printf '{"database": {"type": "postgresql"}, "alembic": {"revision": "ae1027a6acf"}, "created_at": "2024-05-01"}' >"$work/b/manifest.json"
      printf 'hello' >"$work/b/uploads/2024/a.txt"
      ln -s 2024/a.txt "$work/b/uploads/latest"
      printf 'x=1\n' >"$work/b/storage/settings.ini"
      (cd "$work/b" && tar -cf "$work/custom.tar" manifest.json db/app.dump uploads storage \
        && tar -czf "$work/dir.tgz" manifest.json db/dir uploads \
        && tar -cf - manifest.json db/app.sql uploads | zstd -q -o "$work/script.tar.zst" \
        && zip -qry "$work/custom.zip" manifest.json db/app.dump uploads storage \
        && gzip -c db/app.sql >db/app.sql.gz && zip -qry "$work/script.zip" db/app.sql.gz uploads)
      cp "$work"/*.tar "$work"/*.tgz "$work"/*.tar.zst "$work"/*.zip "$corpus"/
      cp "$src/src.tar" "$corpus/pg_dump.tar"
      rm -rf "$work" ;;
    directory_toc) for d in testdata/dumps/*/src.dir.*; do cp "$d/toc.dat" "$corpus/$(basename "$(dirname "$d")")-$(basename "$d").toc"; done ;;
  esac
}

for t in "${targets[@]}"; do
  seed "$t"
  echo "fuzz: $t for ${seconds}s (malloc limit ${malloc_mb} MB, rss limit ${rss_mb} MB)" >&2
  (cd fuzz && cargo +nightly fuzz run -O "$t" -- -max_total_time="$seconds" -timeout=10 \
    -malloc_limit_mb="$malloc_mb" -rss_limit_mb="$rss_mb" -max_len=1048576 -print_final_stats=1)
done
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no failure" >&2
