#!/usr/bin/env bash
# Seeds for the fuzzers: small history files from the repository's examples and, when
# present, the Porcupine corpus beside the repository and $FAULTLINE_KNOSSOS_DATA. Files over 16 KiB are skipped (AFL
# prefers small seeds).
set -euo pipefail
cd "$(dirname "$0")"
rm -rf seeds && mkdir seeds
i=0
for f in $(find ../examples ../../shared/corpus/porcupine ${FAULTLINE_KNOSSOS_DATA:-} -type f \( -name '*.jsonl' -o -name '*.edn' -o -name '*.log' -o -name '*.txt' \) 2>/dev/null | sort); do
  [ "$(stat -c %s "$f")" -le 16384 ] || continue
  cp "$f" "seeds/$i.${f##*.}"; i=$((i+1))
done
# Small transactional and session histories, so the fuzzer starts from every checker's input.
cat > seeds/txn.jsonl <<'EOF2'
{"process":0,"type":"invoke","f":"txn","value":[["append","x",1],["r","y",null]]}
{"process":1,"type":"invoke","f":"txn","value":[["append","y",1],["r","x",null]]}
{"process":0,"type":"ok","f":"txn","value":[["append","x",1],["r","y",[]]]}
{"process":1,"type":"ok","f":"txn","value":[["append","y",1],["r","x",[]]]}
EOF2
cat > seeds/rw.edn <<'EOF2'
[{:process 0, :type :invoke, :f :txn, :value [[:w :x 1] [:r :y nil]]}
 {:process 0, :type :ok, :f :txn, :value [[:w :x 1] [:r :y 2]]}
 {:process 1, :type :invoke, :f :txn, :value [[:w :y 2] [:r :x nil]]}
 {:process 1, :type :info, :f :txn, :value [[:w :y 2] [:r :x nil]]}
 {:process :nemesis, :type :info, :f :start, :value nil}]
EOF2
cat > seeds/cas.jsonl <<'EOF2'
{"process":0,"type":"invoke","f":"write","key":"a","value":1}
{"process":1,"type":"invoke","f":"cas","key":"a","value":[1,2]}
{"process":0,"type":"ok","f":"write","key":"a","value":1}
{"process":1,"type":"fail","f":"cas","key":"a","value":[1,2],"error":"precondition-failed"}
{"process":0,"type":"invoke","f":"read","key":"a","value":null}
{"process":0,"type":"ok","f":"read","key":"a","value":1}
EOF2
echo "$((i+3)) seeds"
