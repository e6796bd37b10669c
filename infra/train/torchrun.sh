#!/usr/bin/env bash
# Multi-node training with torchrun. Run the same command on every node; only NODE_RANK
# differs. Arguments after the script go to `python -m openwit.train.trainer`.
#
#   NNODES=4 NODE_RANK=0 MASTER_ADDR=10.0.0.5 infra/train/torchrun.sh \
#       --shards s3://<bucket>/shards/ --out /mnt/shared/train/vit-b-32 --model ViT-B-32 \
#       --batch-size 256 --epochs 32
#
# NPROC defaults to the GPUs on the node (1 process on a CPU node). The run folder (--out)
# must be on storage every node sees: rank 0 writes the checkpoints, and after a failure
# torchrun restarts the workers (MAX_RESTARTS) and every rank resumes from the latest one.
# NCCL on GPUs, gloo on CPUs: the trainer picks the backend.
set -euo pipefail

NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=${MASTER_PORT:-29500}
RUN_ID=${RUN_ID:-openwit}
MAX_RESTARTS=${MAX_RESTARTS:-3}
PYTHON=${PYTHON:-python}
if [ -z "${NPROC:-}" ]; then
  NPROC=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
  [ "$NPROC" -gt 0 ] || NPROC=1
fi
# Data-loader workers and intra-op threads share the node's cores between the processes.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( $(nproc) / NPROC > 0 ? $(nproc) / NPROC : 1 ))}

cmd=("$PYTHON" -m torch.distributed.run
  --nnodes "$NNODES" --node-rank "$NODE_RANK" --nproc-per-node "$NPROC"
  --rdzv-backend c10d --rdzv-endpoint "$MASTER_ADDR:$MASTER_PORT" --rdzv-id "$RUN_ID"
  --max-restarts "$MAX_RESTARTS"
  -m openwit.train.trainer --resume latest "$@")
# Refuse bad arguments here, in one line with exit 2, not once per worker inside torchrun.
"$PYTHON" -m openwit.train.config --resume latest "$@" || exit $?
if [ -n "${DRY_RUN:-}" ]; then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi
exec "${cmd[@]}"
