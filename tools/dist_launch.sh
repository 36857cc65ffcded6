#!/usr/bin/env bash
# bash tools/dist_launch.sh SCRIPT GPUS [SCRIPT's arguments]: tools/SCRIPT (train.py, test.py) in GPUS
# processes per node under torch.distributed.run; NNODES, NODE_RANK, PORT, MASTER_ADDR as usual.
SCRIPT=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
python -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$(dirname "$0")/$SCRIPT" "${@:3}" --launcher pytorch
