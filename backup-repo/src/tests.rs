use super::*;
use std::io::Write;

fn access(dir: &Path, password: &str) -> Access {
    Access::new(dir.join("repo").display().to_string(), password.into())
}

fn new_snapshot(tags: &[&str]) -> NewSnapshot {
    NewSnapshot {
        root: "/aaaaa-aa".into(),
        host: "ic".into(),
        tags: tags.iter().map(|tag| tag.to_string()).collect(),
    }
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i / 65536) as u8 ^ i as u8 ^ seed).collect()
}

fn save_two(repo: &Repo, a: &[u8], b: &[u8], tags: &[&str]) -> Result<Snapshot> {
    let files = [
        NewFile {
            path: "image.dat".into(),
            size: a.len() as u64,
        },
        NewFile {
            path: "image.dat.sha256".into(),
            size: b.len() as u64,
        },
    ];
    repo.save(&new_snapshot(tags), &files, |writers| {
        for (mut writer, bytes) in writers.into_iter().zip([a, b]) {
            writer.write_all(bytes).map_err(Error::internal)?;
        }
        Ok::<_, Error>(())
    })
}

#[test]
fn a_saved_snapshot_reads_back_by_path_tag_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let access = access(dir.path(), "secret");
    Repo::init(&access, Chunker::Fixed).unwrap();
    let repo = Repo::open(&access).unwrap();
    let image = bytes(1 << 20, 1);
    let saved = save_two(
        &repo,
        &image,
        b"manifest",
        &["kind=dump", "canister=aaaaa-aa"],
    )
    .unwrap();
    assert_eq!(saved.tag("kind"), Some("dump"));

    let repo = Repo::open(&access).unwrap();
    let found = repo.find("latest", &["kind=dump".into()]).unwrap();
    assert_eq!(found.id, saved.id);
    assert_eq!(repo.find(short(&saved.id), &[]).unwrap().id, saved.id);
    let files = repo.files(&found).unwrap();
    let listed: Vec<(&str, u64)> = files.iter().map(|f| (f.path.as_str(), f.size)).collect();
    assert_eq!(listed, [("image.dat", 1 << 20), ("image.dat.sha256", 8)]);
    let file = repo.open_file(&found, "image.dat").unwrap();
    assert_eq!(repo.read_at(&file, 0, 1 << 20).unwrap(), image);
    assert_eq!(
        repo.read_at(&file, 65_536 * 3 + 5, 100_000).unwrap(),
        &image[65_536 * 3 + 5..][..100_000]
    );
    assert!(repo.read_at(&file, (1 << 20) - 1, 2).is_err());
    assert_eq!(
        repo.find("latest", &["kind=backup".into()])
            .unwrap_err()
            .kind,
        Kind::Missing
    );

    // The same image with one block changed adds about one chunk.
    let mut next = image.clone();
    next[65_536 * 7] ^= 1;
    let second = save_two(&repo, &next, b"manifest", &["kind=dump"]).unwrap();
    let added = second.data_added.unwrap();
    assert!(added <= 2 * CHUNK, "added {added}");
}

#[test]
fn a_failed_producer_or_a_short_stream_leaves_no_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let access = access(dir.path(), "secret");
    Repo::init(&access, Chunker::Fixed).unwrap();
    let repo = Repo::open(&access).unwrap();
    let files = [NewFile {
        path: "image.dat".into(),
        size: 300_000,
    }];
    let failed = repo.save(&new_snapshot(&[]), &files, |mut writers| {
        writers[0]
            .write_all(&bytes(200_000, 0))
            .map_err(Error::internal)?;
        Err(Error::input("the canister went away"))
    });
    assert_eq!(failed.unwrap_err().to_string(), "the canister went away");
    let short = repo.save(&new_snapshot(&[]), &files, |mut writers| {
        writers[0]
            .write_all(&bytes(200_000, 0))
            .map_err(Error::internal)?;
        Ok::<_, Error>(())
    });
    assert!(short.unwrap_err().to_string().contains("was not saved"));
    assert!(Repo::open(&access)
        .unwrap()
        .snapshots(&[])
        .unwrap()
        .is_empty());
}

#[test]
fn a_wrong_password_and_a_missing_repository_are_said_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Repo::open(&access(dir.path(), "secret")).err().unwrap();
    assert_eq!(missing.kind, Kind::Missing, "{missing}");
    assert!(!dir.path().join("repo").exists());
    Repo::init(&access(dir.path(), "secret"), Chunker::Fixed).unwrap();
    let wrong = Repo::open(&access(dir.path(), "other")).err().unwrap();
    assert_eq!(wrong.kind, Kind::WrongPassword, "{wrong}");
    let again = Repo::init(&access(dir.path(), "secret"), Chunker::Rabin).unwrap_err();
    assert!(again.to_string().contains("found one"), "{again}");
}

/// More files than the archiver has workers, each ending off a chunk's
/// bound: each stream ends when its file is whole, so none waits for
/// another.
#[test]
fn many_files_stream_one_after_another() {
    let dir = tempfile::tempdir().unwrap();
    let access = access(dir.path(), "secret");
    Repo::init(&access, Chunker::Fixed).unwrap();
    let repo = Repo::open(&access).unwrap();
    let files: Vec<NewFile> = (0..12)
        .map(|i| NewFile {
            path: format!("f{i:02}"),
            size: 100_000 + i,
        })
        .collect();
    let saved = repo
        .save(&new_snapshot(&[]), &files, |writers| {
            for (i, mut writer) in writers.into_iter().enumerate() {
                writer
                    .write_all(&bytes(100_000 + i, i as u8))
                    .map_err(Error::internal)?;
            }
            Ok::<_, Error>(())
        })
        .unwrap();
    // What a save wrote is in the index of a repository opened after it.
    let repo = Repo::open(&access).unwrap();
    let listed = repo.files(&saved).unwrap();
    assert_eq!(listed.len(), 12);
    let file = repo.open_file(&saved, "f11").unwrap();
    assert_eq!(repo.read_at(&file, 0, 100_011).unwrap(), bytes(100_011, 11));
}
