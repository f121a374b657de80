#!/bin/bash
# Interleaved A/B of tool-call --paths fast: base (ab-facts-base), new (wt-facts), base, new
set -u
out=/tmp/ab-facts
for round in 1 2; do
  for arm in base new; do
    if [ $arm = base ]; then dir=/work/ab-facts-base; else dir=/work/wt-facts; fi
    cd $dir
    export PATH=$dir/.toolchain/node-24.21.0/bin:$dir/.toolchain/pnpm-12.21.0/node_modules/.bin:$PATH
    echo "== $arm $round $(date -u +%H:%M:%S) $(git rev-parse --short HEAD)" >> $out/progress.log
    pnpm bench:tool-call --paths fast > $out/$arm-$round.txt 2>&1
    echo "   rc=$? $(date -u +%H:%M:%S)" >> $out/progress.log
  done
done
echo done >> $out/progress.log
