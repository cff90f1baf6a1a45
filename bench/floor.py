"""The floor every Typer CLI pays: a minimal Typer app with one command that prints its argument."""

import typer

app = typer.Typer(add_completion=False)


@app.command()
def hello(name: str) -> None:
    print(name)


@app.command()
def other(name: str) -> None:
    print(name)


if __name__ == "__main__":
    app()
