"""`python -m qualification_server.deploy up|down|status --dir var/cluster`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qualification_server.deploy.cluster import STATE_FILE, Cluster, Ports

app = typer.Typer(
    help="A deployment on one machine: HAProxy, server instances, a PostgreSQL primary and "
    "its hot standby (docs/deployment.md).",
    no_args_is_help=True,
    add_completion=False,
)

DirOption = Annotated[Path, typer.Option("--dir", help="Where the deployment lives")]


@app.command()
def up(
    folder: DirOption = Path("var/cluster"),
    instances: Annotated[int, typer.Option(help="Server instances behind the balancer")] = 2,
    base_port: Annotated[
        int,
        typer.Option(
            help="The balancer's port; the instances' follow it, the primary's and "
            "the standby's are 10 and 11 above it"
        ),
    ] = 8400,
    workers: Annotated[int, typer.Option(help="uvicorn workers per instance")] = 1,
) -> None:
    """Start the deployment (made first if the folder holds none yet)."""
    if (folder / STATE_FILE).exists():
        known = Cluster.open(folder)
        if any(state.endswith("running") for state in known.status().values()):
            typer.echo(f"{folder} runs already: `down` first", err=True)
            raise typer.Exit(1)
    cluster = Cluster(
        folder, instances=instances, ports=Ports.from_base(base_port, instances), workers=workers
    )
    try:
        cluster.start()
    except (RuntimeError, TimeoutError, OSError) as exc:  # everything started is stopped
        typer.echo(f"deploy: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"balancer {cluster.url}")
    for n, url in enumerate(cluster.instance_urls):
        typer.echo(f"instance {n} {url}")
    typer.echo(f"server database {cluster.server_database_url}")
    typer.echo(f"registry reads  {cluster.registry_database_url}")
    typer.echo(f"registry writes {cluster.registry_primary_url}")


@app.command()
def down(
    folder: DirOption = Path("var/cluster"),
    remove: Annotated[bool, typer.Option(help="Delete the folder (the databases too)")] = False,
) -> None:
    """Stop every part of the deployment."""
    if not (folder / STATE_FILE).exists():
        typer.echo(f"no deployment in {folder}", err=True)
        raise typer.Exit(1)
    Cluster.open(folder).stop(remove=remove)
    typer.echo("stopped" + (f" and {folder} removed" if remove else ""))


@app.command()
def status(folder: DirOption = Path("var/cluster")) -> None:
    """What runs, what the balancer sees of each instance, and the replication."""
    if not (folder / STATE_FILE).exists():
        typer.echo(f"no deployment in {folder}", err=True)
        raise typer.Exit(1)
    for part, state in Cluster.open(folder).status().items():
        typer.echo(f"{part}\t{state}")


if __name__ == "__main__":
    app()
