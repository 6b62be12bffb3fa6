//! `trae solo interview`: the SOLO agent's genesis interview in the terminal, as the operator.
//! Each question is printed with who asked it; an answer is a line (`\` at a line's end
//! continues it on the next). `:revise N` changes the answer to question N (the questions after
//! it are asked again), `:quit` leaves the interview to resume later with `--resume ID`. The
//! spec is printed as markdown when the interview ends.

use std::io::BufRead;

use anyhow::{Context, bail};
use trae_agents::{NewInterview, Trae};
use trae_core::{Config, Interview, InterviewStatus, Principal, ProjectType};
use uuid::Uuid;

use crate::write_stdout;

/// What `trae solo interview` was asked for.
pub(crate) struct Ask {
    /// The project type (asked for when missing).
    pub project_type: Option<String>,
    /// The idea (asked for when missing).
    pub idea: Option<String>,
    /// An interview to go on with.
    pub resume: Option<Uuid>,
}

/// Runs an interview on stdin and stdout until it has a spec or the user leaves.
pub(crate) async fn interview(config: &Config, ask: Ask) -> anyhow::Result<()> {
    let trae = Trae::open(config.clone())
        .await
        .context("cannot open the database")?;
    let result = converse(&trae, ask).await;
    trae.close().await;
    result
}

async fn converse(trae: &Trae, ask: Ask) -> anyhow::Result<()> {
    let interviews = trae.interviews();
    let principal = Principal::System;
    let mut lines = std::io::stdin().lock().lines();
    let mut interview = match ask.resume {
        Some(id) => interviews.get(&principal, id).await?,
        None => {
            let project_type = match ask.project_type {
                Some(name) => ProjectType::parse(&name)?,
                None => loop {
                    let names: Vec<&str> = ProjectType::ALL.iter().map(|t| t.as_str()).collect();
                    let Some(answer) = prompt(
                        &mut lines,
                        &format!("Project type ({}): ", names.join(", ")),
                    )?
                    else {
                        bail!("no project type given");
                    };
                    match ProjectType::parse(&answer) {
                        Ok(t) => break t,
                        Err(error) => eprintln!("{error}"),
                    }
                },
            };
            let idea = match ask.idea {
                Some(idea) => idea,
                None => prompt(&mut lines, "Your idea, in a sentence or two: ")?
                    .context("no idea given")?,
            };
            interviews
                .start(&principal, NewInterview { project_type, idea })
                .await?
        }
    };
    eprintln!(
        "interview {} ({})",
        interview.id,
        interview.project_type.as_str()
    );
    while interview.status == InterviewStatus::Open {
        match interview.pending() {
            Some(turn) => write_stdout(&format!(
                "\nQ{} [{}] {}\n",
                turn.index + 1,
                turn.source.as_str(),
                turn.question
            ))?,
            // Left without a next question (a failure between answer and question): an
            // earlier answer revised gets it going again.
            None => {
                write_stdout("\nNo question is waiting: :revise N to go on from question N.\n")?
            }
        }
        let Some(line) = prompt(&mut lines, "> ")? else {
            return leave(&interview);
        };
        let line = line.trim();
        if line == ":quit" {
            return leave(&interview);
        }
        let next = if let Some(number) = line.strip_prefix(":revise") {
            revise(trae, &interview, number, &mut lines).await
        } else {
            interviews
                .answer(&principal, interview.id, line)
                .await
                .map_err(Into::into)
        };
        match next {
            Ok(updated) => interview = updated,
            // A refused answer (blank, too long) is said, and the question asked again.
            Err(error) => eprintln!("{error}"),
        }
    }
    let spec = interviews.spec(&principal, interview.id, None).await?;
    write_stdout(&format!("\n{}", spec.markdown))?;
    eprintln!(
        "spec version {} written by the {}; interview {}",
        spec.version,
        spec.source.as_str(),
        interview.id
    );
    Ok(())
}

/// `:revise N`: shows the old answer to question N and asks for the new one.
async fn revise(
    trae: &Trae,
    interview: &Interview,
    number: &str,
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> anyhow::Result<Interview> {
    let number: u32 = number
        .trim()
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .context("say which question: :revise N, N from 1")?;
    let turn = interview
        .turns
        .get(number as usize - 1)
        .context("there is no such question")?;
    write_stdout(&format!(
        "Q{number} {}\nwas: {}\n",
        turn.question,
        turn.answer.as_deref().unwrap_or("(not answered)")
    ))?;
    let answer = prompt(lines, "new answer> ")?.context("no answer given")?;
    Ok(trae
        .interviews()
        .revise(&Principal::System, interview.id, number - 1, &answer)
        .await?)
}

/// Prints `text` and reads one answer: a line, continued onto the next while it ends in `\`;
/// `None` at the end of input.
fn prompt(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    text: &str,
) -> anyhow::Result<Option<String>> {
    write_stdout(text)?;
    let mut answer = String::new();
    loop {
        let Some(line) = lines.next().transpose()? else {
            return Ok((!answer.is_empty()).then_some(answer));
        };
        match line.strip_suffix('\\') {
            Some(part) => {
                answer.push_str(part);
                answer.push('\n');
            }
            None => {
                answer.push_str(&line);
                return Ok(Some(answer));
            }
        }
    }
}

fn leave(interview: &Interview) -> anyhow::Result<()> {
    eprintln!(
        "left the interview; go on with: trae solo interview --resume {}",
        interview.id
    );
    Ok(())
}
