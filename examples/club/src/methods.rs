// The club's own methods, shared by both builds: they use the statics by
// name (`CONFIG`, `MEMBERS`, `DUES`, `POSTS`, `AUDIT`, `JOBS`), which the
// derive declares in `club` and `club-plain` declares by hand.

fn now() -> u64 {
    ic_cdk::api::time()
}

fn audit(actor: Principal, action: Action) {
    let event = Event {
        at_nanos: now(),
        actor,
        action,
    };
    AUDIT.with(|log| {
        if let Err(error) = log.borrow().append(&event) {
            ic_cdk::trap(format!("cannot append to the audit log: {error:?}"));
        }
    });
}

/// Joins the club (the caller), if it is open and not full.
#[ic_cdk::update]
fn join() -> Result<u64, String> {
    let config = CONFIG.with(|config| config.borrow().get().clone());
    let caller = ic_cdk::api::msg_caller();
    let members = MEMBERS.with(|members| members.borrow().len());
    if !config.open || members >= u64::from(config.max_members) {
        return Err(format!("{} takes no new members", config.name));
    }
    MEMBERS.with(|members| members.borrow_mut().insert(caller));
    audit(caller, Action::Joined);
    Ok(members + 1)
}

/// Posts on the board; returns the post's index.
#[ic_cdk::update]
fn post(text: String) -> Result<u64, String> {
    let caller = ic_cdk::api::msg_caller();
    let post = Post {
        author: caller,
        text,
        at_nanos: now(),
    };
    if post.to_bytes().len() > MAX_POST_BYTES as usize {
        return Err(format!("a post holds at most {MAX_POST_BYTES} bytes"));
    }
    let index = POSTS.with(|posts| {
        let posts = posts.borrow();
        posts.push(&post);
        posts.len() - 1
    });
    audit(caller, Action::Posted { index });
    Ok(index)
}

/// Schedules a job; returns its id.
#[ic_cdk::update]
fn schedule(due_nanos: u64, task: String) -> Result<u64, String> {
    let id = JOBS.with(|jobs| jobs.borrow().len());
    let job = Job { due_nanos, id, task };
    if job.to_bytes().len() > MAX_JOB_BYTES as usize {
        return Err(format!("a job holds at most {MAX_JOB_BYTES} bytes"));
    }
    JOBS.with(|jobs| jobs.borrow_mut().push(&job));
    audit(ic_cdk::api::msg_caller(), Action::Scheduled { job: id });
    Ok(id)
}

/// Adds to the caller's dues.
#[ic_cdk::update]
fn pay(amount: u64) -> u64 {
    let caller = ic_cdk::api::msg_caller();
    let total = DUES.with(|dues| {
        let mut dues = dues.borrow_mut();
        let total = dues.get(&caller).unwrap_or(0).saturating_add(amount);
        dues.insert(caller, total);
        total
    });
    audit(caller, Action::Paid { amount });
    total
}

/// Changes the settings (controllers only).
#[ic_cdk::update]
fn configure(config: Config) -> Result<(), String> {
    let caller = ic_cdk::api::msg_caller();
    if !ic_cdk::api::is_controller(&caller) {
        return Err("only a controller configures the club".into());
    }
    CONFIG.with(|cell| cell.borrow_mut().set(config));
    audit(caller, Action::Configured);
    Ok(())
}

/// Fills every structure with `n` made-up records (controllers only), for
/// demos and tests: `n` members, dues, posts and jobs, and their events.
#[ic_cdk::update]
fn seed(n: u64) -> Result<u64, String> {
    let caller = ic_cdk::api::msg_caller();
    if !ic_cdk::api::is_controller(&caller) {
        return Err("only a controller seeds the club".into());
    }
    let start = POSTS.with(|posts| posts.borrow().len());
    for i in start..start + n {
        let member = Principal::from_slice(&i.to_be_bytes());
        MEMBERS.with(|members| members.borrow_mut().insert(member));
        DUES.with(|dues| dues.borrow_mut().insert(member, i * 10));
        let post = Post {
            author: member,
            text: format!("post {i}: {}", "news ".repeat((i % 7) as usize)),
            at_nanos: 1_700_000_000_000_000_000 + i,
        };
        POSTS.with(|posts| posts.borrow().push(&post));
        // Due times out of order, so that the heap's array is not sorted.
        let job = Job {
            due_nanos: (i * 7_919) % 10_007,
            id: i,
            task: format!("job {i}"),
        };
        JOBS.with(|jobs| jobs.borrow_mut().push(&job));
        audit(member, Action::Posted { index: i });
    }
    Ok(POSTS.with(|posts| posts.borrow().len()))
}

#[ic_cdk::query]
fn config() -> Config {
    CONFIG.with(|config| config.borrow().get().clone())
}

#[ic_cdk::query]
fn is_member(who: Principal) -> bool {
    MEMBERS.with(|members| members.borrow().contains(&who))
}

#[ic_cdk::query]
fn get_post(index: u64) -> Option<Post> {
    POSTS.with(|posts| posts.borrow().get(index))
}

#[ic_cdk::query]
fn get_event(index: u64) -> Option<Event> {
    AUDIT.with(|log| log.borrow().get(index))
}

/// The next job due, without removing it.
#[ic_cdk::query]
fn next_job() -> Option<Job> {
    JOBS.with(|jobs| jobs.borrow().peek())
}

/// How many of each: members, dues, posts, events, jobs.
#[ic_cdk::query]
fn counts() -> (u64, u64, u64, u64, u64) {
    (
        MEMBERS.with(|s| s.borrow().len()),
        DUES.with(|s| s.borrow().len()),
        POSTS.with(|s| s.borrow().len()),
        AUDIT.with(|s| s.borrow().len()),
        JOBS.with(|s| s.borrow().len()),
    )
}
