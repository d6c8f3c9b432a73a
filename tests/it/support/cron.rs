//! The crontab line format read the way cron reads it, for the tests of the backup job.

/// One job of a system crontab, read the way cron reads it.
#[derive(Debug, PartialEq)]
pub struct CronJob {
    pub schedule: String,
    pub user: String,
    pub command: String,
    /// What cron feeds the command on standard input: the text after its first unescaped `%`.
    pub stdin: Option<String>,
}

/// A reader of /etc/cron.d's line format: `#` comments, `NAME=value` settings, and jobs of five
/// time fields, a user and a command in which `%` is a line break and `\%` a percent sign.
pub fn read_crontab(text: &str) -> (Vec<(String, String)>, Vec<CronJob>) {
    let (mut settings, mut jobs) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut fields = trimmed.split_whitespace();
        let first = fields.next().unwrap();
        if !first.starts_with(['*', '@']) && !first.starts_with(|c: char| c.is_ascii_digit()) {
            let (name, value) = trimmed.split_once('=').expect("a setting is NAME=value");
            settings.push((name.trim().to_owned(), value.trim().to_owned()));
            continue;
        }
        let mut rest = trimmed;
        let mut schedule = Vec::new();
        for _ in 0..6 {
            let field = rest
                .split_whitespace()
                .next()
                .expect("five time fields and a user");
            schedule.push(field);
            rest = rest[rest.find(field).unwrap() + field.len()..].trim_start();
        }
        let user = schedule.pop().unwrap().to_owned();
        let (mut command, mut stdin) = (String::new(), None::<String>);
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            let c = match c {
                '\\' if chars.peek() == Some(&'%') => chars.next().unwrap(),
                '%' if stdin.is_none() => {
                    stdin = Some(String::new());
                    continue;
                }
                '%' => '\n',
                c => c,
            };
            stdin.as_mut().unwrap_or(&mut command).push(c);
        }
        jobs.push(CronJob {
            schedule: schedule.join(" "),
            user,
            command,
            stdin,
        });
    }
    (settings, jobs)
}
