"""The LR schedule is a torch scheduler whose state (position and time budget used) a checkpoint
restores exactly, and the CLI and the trainer node build one config the same way."""

from __future__ import annotations

import pytest
import torch

from automask_ros.core.training.train_checkpoint import RunState, load_checkpoint, save_checkpoint
from automask_ros.core.training.train_config import TrainConfig, TrainError
from automask_ros.core.training.train_schedule import lr_factor, make_scheduler, step_scheduler

TOTAL, WARMUP = 20, 3


def budget_at(step: int) -> float:
    """A wall-clock budget that runs out faster than the iterations: it decides the schedule late."""
    return 0.07 * step


def objects(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = make_scheduler(optimizer, TOTAL, WARMUP, "cosine")
    return model, optimizer, scheduler, torch.amp.GradScaler("cuda", enabled=False)


def step(model, optimizer, scheduler, i: int) -> float:
    """One real optimiser step; the learning rate it used."""
    lr = optimizer.param_groups[0]["lr"]
    loss = model(torch.full((3, 4), float(i))).square().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    step_scheduler(scheduler, budget_at(i))
    return lr


def test_lr_after_a_resume_equals_the_uninterrupted_run(tmp_path):
    model, optimizer, scheduler, _ = objects()
    straight = [step(model, optimizer, scheduler, i) for i in range(TOTAL)]
    # the schedule is warm-up then decay, and the budget (not the iterations) ends it
    assert straight[0] == pytest.approx(1e-3 / WARMUP)
    assert straight[2] == pytest.approx(1e-3 * lr_factor(2, TOTAL, WARMUP, "cosine", budget_at(1)))
    assert straight[-1] == pytest.approx(1e-5)  # 1 % of the peak once the budget is used up
    assert budget_at(TOTAL - 2) > (TOTAL - 1) / TOTAL

    model, optimizer, scheduler, scaler = objects()
    first = [step(model, optimizer, scheduler, i) for i in range(8)]
    path = tmp_path / "checkpoint" / "last.pt"
    save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                    state=RunState(model_id="m", iteration=8), labels=["a"], arch="linear")
    # a new process: fresh objects (their schedule at iteration 0, no budget used), then the checkpoint
    model, optimizer, scheduler, scaler = objects(seed=1)
    assert optimizer.param_groups[0]["lr"] != straight[8]
    state = load_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                            labels=["a"], arch="linear")
    assert state.iteration == 8 and scheduler.last_epoch == 8
    assert scheduler.lr_lambdas[0].budget_used == budget_at(7)
    rest = [step(model, optimizer, scheduler, i) for i in range(8, TOTAL)]
    assert first + rest == straight  # exactly, every step


def test_a_checkpoint_without_scheduler_state_is_refused(tmp_path):
    model, optimizer, scheduler, scaler = objects()
    path = tmp_path / "last.pt"
    save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                    state=RunState(model_id="m"), labels=["a"], arch="linear")
    ckpt = torch.load(path, weights_only=True)
    ckpt["scheduler"] = {"kind": "cosine", "iteration": 0}  # what automask wrote before the scheduler
    torch.save(ckpt, path)
    with pytest.raises(TrainError, match="older automask.*--force"):
        load_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                        labels=["a"], arch="linear")


def test_from_options_checks_ranges_and_derives_max_size():
    cfg = TrainConfig.from_options({"data": ["d"], "out": "o", "min_size": 640, "paste": 0.3, "epochs": None})
    assert cfg.max_size == 640 and cfg.augment.paste == 0.3 and cfg.epochs is None
    assert TrainConfig.from_options({"data": ["d"], "out": "o", "min_size": 64}).max_size == 512
    assert TrainConfig.from_options({"data": ["d"], "out": "o", "min_size": 64, "max_size": 96}).max_size == 96
    for bad, match in (({"paste": 1.5}, "paste"), ({"epochs": 0}, "epochs"), ({"max_minutes": -1.0}, "max_minutes"),
                       ({"min_sise": 64}, "unknown training option")):
        with pytest.raises(TrainError, match=match):
            TrainConfig.from_options({"data": ["d"], "out": "o", **bad})


@pytest.mark.ros
def test_cli_and_trainer_node_build_the_same_config():
    from automask.action import Train
    from automask_ros.cli import build_parser
    from automask_ros.cli.train import config_from_args
    from automask_ros.ros.trainer_node import PARAMS, goal_to_config

    params = {p.name: p.default for p in PARAMS}
    params.update(min_size=64, threads=1, backgrounds="bg", max_minutes=2.5)
    goal = Train.Goal(datasets=["d1", "d2"], output_dir="o", epochs=3, base_model="none")
    node = TrainConfig.from_options(goal_to_config(goal, params))
    cli = config_from_args(build_parser().parse_args(
        ["train", "--data", "d1", "d2", "--out", "o", "--epochs", "3", "--weights", "none", "--min-size", "64",
         "--threads", "1", "--backgrounds", "bg", "--max-minutes", "2.5"]))
    assert node == cli
    assert node.max_size == 512  # derived from min_size for both, as the CLI always did
