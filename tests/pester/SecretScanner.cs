// The secrets scan of Secrets.Tests.ps1 (compiled there with Add-Type). It looks for every secret of a run in
// the forms a careless writer would leave it in, wherever the module's processes could leave it:
//
//   forms   the text itself (UTF-8, Latin-1 and ASCII alike), UTF-16LE and UTF-16BE, base64 and base64url of a
//           text that holds it (at each of the three alignments), URL-encoded (upper- and lower-case hex), hex
//           of its text, hex of its bytes (for a base64 secret: the key, the SAS signature), and its longest
//           run of letters and digits (what survives any escaping of '+', '/' and '=', as JSON's \u002B)
//   places  the command line and environment of every process (Sample), and, with fanotify, of every process
//           that opens the module's script, held at that open until they are read (WatchStarts: no Node process
//           is too short-lived to be seen); every file that this PowerShell and
//           its Node processes running the module have open, deleted ones included (/proc/<pid>/fd); every
//           file written under the watched folders (WatchWrites): with fanotify (root), each file written and
//           closed comes with an open descriptor, so that one deleted the moment it is written is still read;
//           without it, folder watchers (Watch) open each file as it appears, which a file deleted within a
//           millisecond can outrun; any file or text given to it (ScanFile, ScanText)
//
// Files are read in chunks that overlap, and again from where the last read ended whenever they grow (a
// secret written at the end of a temporary file just before it is renamed or removed is still read).
// Findings are collected, never thrown: the self-test plants decoys and asserts that each one is reported.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using Microsoft.Win32.SafeHandles;

namespace MsiStorageTests
{
    public sealed class SecretScanner : IDisposable
    {
        sealed class Pattern { public string Secret; public string Form; public byte[] Bytes; }

        readonly List<Pattern> patterns = new List<Pattern>();
        readonly bool[] alphabet = new bool[256];
        int minLength = int.MaxValue;
        int maxLength;
        readonly object gate = new object();
        readonly HashSet<string> findingSet = new HashSet<string>();
        readonly List<string> findings = new List<string>();
        readonly Dictionary<string, long> offsets = new Dictionary<string, long>();
        readonly HashSet<string> fdFiles = new HashSet<string>();
        readonly HashSet<string> watched = new HashSet<string>();
        readonly List<FileSystemWatcher> watchers = new List<FileSystemWatcher>();
        readonly ConcurrentDictionary<string, FileStream> held = new ConcurrentDictionary<string, FileStream>();
        int heldCount;
        volatile bool watching;

        /// <summary>Bytes read from files (all of them; and those of downloads' temporary files).</summary>
        public long BytesScanned, PartialBytesScanned;
        /// <summary>Samples taken, and how many processes whose open files were read.</summary>
        public int Samples, ProcessesSampled;

        public string[] Findings { get { lock (gate) return findings.ToArray(); } }
        /// <summary>The files seen open in the sampled processes (their link targets).</summary>
        public string[] FdFiles { get { lock (gate) { var a = new string[fdFiles.Count]; fdFiles.CopyTo(a); return a; } } }
        /// <summary>The files the watchers caught as they appeared.</summary>
        public string[] WatchedFiles { get { lock (gate) { var a = new string[watched.Count]; watched.CopyTo(a); return a; } } }
        public string[] Forms(string secret)
        {
            var list = new List<string>();
            foreach (var p in patterns) if (p.Secret == secret && !list.Contains(p.Form)) list.Add(p.Form);
            return list.ToArray();
        }

        // ---- the forms ----------------------------------------------------------------------------------

        public void Add(string name, string secret)
        {
            if (string.IsNullOrEmpty(secret) || secret.Length < 16) throw new ArgumentException("a secret of at least 16 characters is needed: " + name);
            byte[] text = Encoding.UTF8.GetBytes(secret);
            AddPattern(name, "text", text);
            AddPattern(name, "UTF-16LE", Encoding.Unicode.GetBytes(secret));
            AddPattern(name, "UTF-16BE", Encoding.BigEndianUnicode.GetBytes(secret));
            for (int align = 0; align < 3; align++)
            {
                // base64 of a longer text that holds the secret at this alignment: only the characters made of
                // the secret's bytes alone are known (the groups it shares with its neighbours are not).
                var padded = new byte[align + text.Length];
                Array.Copy(text, 0, padded, align, text.Length);
                string b64 = Convert.ToBase64String(padded);
                int skip = align == 0 ? 0 : 4;
                int full = 4 * (padded.Length / 3);
                if (full - skip < 16) continue;
                string inner = b64.Substring(skip, full - skip);
                AddPattern(name, "base64", Encoding.ASCII.GetBytes(inner));
                AddPattern(name, "base64url", Encoding.ASCII.GetBytes(inner.Replace('+', '-').Replace('/', '_')));
            }
            string escaped = Uri.EscapeDataString(secret);
            if (escaped != secret)
            {
                AddPattern(name, "URL-encoded", Encoding.ASCII.GetBytes(escaped));
                string lower = Regex.Replace(escaped, "%[0-9A-F]{2}", m => m.Value.ToLowerInvariant());
                if (lower != escaped) AddPattern(name, "URL-encoded", Encoding.ASCII.GetBytes(lower));
            }
            AddPattern(name, "hex of its text", Encoding.ASCII.GetBytes(Convert.ToHexString(text).ToLowerInvariant()));
            AddPattern(name, "hex of its text", Encoding.ASCII.GetBytes(Convert.ToHexString(text)));
            var decoded = new byte[secret.Length];
            if (Convert.TryFromBase64String(secret, decoded, out int n) && n >= 16)
            {
                string hex = Convert.ToHexString(decoded, 0, n);
                AddPattern(name, "hex of its bytes", Encoding.ASCII.GetBytes(hex.ToLowerInvariant()));
                AddPattern(name, "hex of its bytes", Encoding.ASCII.GetBytes(hex));
            }
            // (Of a JWT, only its signature: its header, and the start of its claims, are the same in other tokens.)
            string longest = "";
            string random = secret.Split('.').Length == 3 ? secret.Substring(secret.LastIndexOf('.') + 1) : secret;
            foreach (Match m in Regex.Matches(random, "[A-Za-z0-9]+")) if (m.Length > longest.Length) longest = m.Value;
            if (longest.Length >= 16 && longest.Length < secret.Length) AddPattern(name, "a piece of it", Encoding.ASCII.GetBytes(longest));
        }

        void AddPattern(string secret, string form, byte[] bytes)
        {
            foreach (var p in patterns) if (p.Secret == secret && p.Form == form && p.Bytes.AsSpan().SequenceEqual(bytes)) return;
            patterns.Add(new Pattern { Secret = secret, Form = form, Bytes = bytes });
            foreach (byte b in bytes) alphabet[b] = true;
            minLength = Math.Min(minLength, bytes.Length);
            maxLength = Math.Max(maxLength, bytes.Length);
        }

        // ---- matching -----------------------------------------------------------------------------------

        /// <summary>Records each secret form found in data, as "the <secret> (<form>) in <where>".</summary>
        public int ScanBytes(byte[] data, int offset, int count, string where)
        {
            if (patterns.Count == 0) throw new InvalidOperationException("no secrets to look for");
            int found = 0;
            int end = offset + count;
            // Every form is made of the bytes in `alphabet` only, and is at least minLength long: a form lies in a
            // run of such bytes, and covers one of the positions probed every minLength bytes. Random data has few
            // such runs; text has short ones (spaces, quotes and colons break them).
            int p = offset + minLength - 1;
            while (p < end)
            {
                if (!alphabet[data[p]]) { p += minLength; continue; }
                int s = p, e = p + 1;
                while (s > offset && alphabet[data[s - 1]]) s--;
                while (e < end && alphabet[data[e]]) e++;
                if (e - s >= minLength)
                {
                    var run = new ReadOnlySpan<byte>(data, s, e - s);
                    foreach (var pattern in patterns)
                    {
                        if (pattern.Bytes.Length <= run.Length && run.IndexOf(pattern.Bytes) >= 0)
                        {
                            found++;
                            Report("the " + pattern.Secret + " (" + pattern.Form + ") in " + where);
                        }
                    }
                }
                p = e + minLength;
            }
            return found;
        }

        public int ScanText(string text, string where)
        {
            if (string.IsNullOrEmpty(text)) return 0;
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            return ScanBytes(bytes, 0, bytes.Length, where);
        }

        void Report(string finding)
        {
            lock (gate) { if (findingSet.Add(finding)) findings.Add(finding); }
        }

        /// <summary>Reads a stream from `from` to its end, in overlapping chunks; returns where it ended.</summary>
        long ScanStream(Stream stream, long from, string where, bool partial)
        {
            long length = stream.Length;
            if (from == length) return from;
            if (from > length) from = 0; // shorter than when last read: another file, or rewritten
            long start = Math.Max(0, from - (maxLength - 1));
            stream.Seek(start, SeekOrigin.Begin);
            const int chunk = 4 << 20;
            int overlap = maxLength - 1;
            var buffer = new byte[chunk + overlap];
            int kept = 0;
            long position = start;
            while (true)
            {
                int n = stream.Read(buffer, kept, chunk);
                if (n <= 0) break;
                position += n;
                Interlocked.Add(ref BytesScanned, n);
                if (partial) Interlocked.Add(ref PartialBytesScanned, n);
                ScanBytes(buffer, 0, kept + n, where);
                int total = kept + n;
                kept = Math.Min(overlap, total);
                Buffer.BlockCopy(buffer, total - kept, buffer, 0, kept);
            }
            return position;
        }

        /// <summary>A whole file; false when it could not be opened as a regular file.</summary>
        public bool ScanFile(string path)
        {
            var stream = OpenRegular(path);
            if (stream == null) return false;
            using (stream) ScanStream(stream, 0, path, IsPartial(path));
            return true;
        }

        /// <summary>The file an open descriptor refers to (its mount and inode): a file open in several
        /// processes, under several names, or held by a watcher too, is read once.</summary>
        static string FileKey(string fdinfo)
        {
            string mnt = null, ino = null;
            try
            {
                foreach (var line in File.ReadAllLines(fdinfo))
                {
                    if (line.StartsWith("mnt_id:")) mnt = line.Substring(7).Trim();
                    else if (line.StartsWith("ino:")) ino = line.Substring(4).Trim();
                }
            }
            catch { return null; }
            return mnt != null && ino != null ? "inode " + mnt + ":" + ino : null;
        }

        /// <summary>What a file holds beyond what was read of it under this key before.</summary>
        void ScanFurther(string key, Stream stream, string where, bool partial)
        {
            long from;
            lock (gate) { if (!offsets.TryGetValue(key, out from)) from = 0; }
            long reached = ScanStream(stream, from, where, partial);
            lock (gate) offsets[key] = reached;
        }

        static bool IsPartial(string path) { return path.Contains("msistorage-partial"); }

        // ---- opening files without blocking ---------------------------------------------------------------

        [DllImport("libc", SetLastError = true, EntryPoint = "open")]
        static extern int SysOpen(string path, int flags);
        const int O_RDONLY = 0, O_NONBLOCK = 0x800;

        /// <summary>A regular file opened for reading, or null (gone, a FIFO, a device, a folder).</summary>
        static FileStream OpenRegular(string path)
        {
            // O_NONBLOCK: a FIFO opened for reading would wait for a writer.
            int fd = SysOpen(path, O_RDONLY | O_NONBLOCK);
            if (fd < 0) return null;
            var handle = new SafeFileHandle((IntPtr)fd, true);
            try
            {
                var stream = new FileStream(handle, FileAccess.Read, 1);
                if (!stream.CanSeek) { stream.Dispose(); return null; }
                // A folder opens too, and fails only when read.
                try { _ = stream.Length; stream.Read(new byte[1], 0, 1); stream.Seek(0, SeekOrigin.Begin); }
                catch { stream.Dispose(); return null; }
                return stream;
            }
            catch { handle.Dispose(); return null; }
        }

        // ---- processes ----------------------------------------------------------------------------------

        /// <summary>
        /// One sample: the command line and environment of every process, and every regular file open in the
        /// processes of `pids` and in those of their descendants whose command line matches `openFilesOf` (their
        /// files read further than last time). Returns true when such a descendant was seen.
        /// </summary>
        public bool Sample(string openFilesOf, int[] pids)
        {
            var match = new Regex(openFilesOf);
            bool saw = false;
            Samples++;
            var parents = new Dictionary<int, int>();
            var matching = new List<int>();
            foreach (var dir in Directory.GetDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
                try
                {
                    // pid (comm) state ppid ...: comm may hold spaces and parentheses, the last ')' ends it.
                    string stat = File.ReadAllText(dir + "/stat");
                    parents[pid] = int.Parse(stat.Substring(stat.LastIndexOf(')') + 2).Split(' ')[1]);
                }
                catch { continue; }
                foreach (var file in new[] { "cmdline", "environ" })
                {
                    byte[] bytes;
                    try { bytes = File.ReadAllBytes(dir + "/" + file); } catch { continue; }
                    if (file == "cmdline" && match.IsMatch(Encoding.UTF8.GetString(bytes).Replace('\0', ' '))) matching.Add(pid);
                    ScanBytes(bytes, 0, bytes.Length, dir + "/" + file);
                }
            }
            foreach (int pid in pids) SampleOpenFiles(pid);
            foreach (int pid in matching)
            {
                // Another session's Node running the module is none of this run's business.
                int up = pid;
                for (int depth = 0; depth < 16 && parents.TryGetValue(up, out up);)
                {
                    if (Array.IndexOf(pids, up) >= 0) { saw = true; SampleOpenFiles(pid); break; }
                    depth++;
                }
            }
            return saw;
        }

        void SampleOpenFiles(int pid)
        {
            string[] fds;
            try { fds = Directory.GetFiles("/proc/" + pid + "/fd"); } catch { return; }
            Interlocked.Increment(ref ProcessesSampled);
            foreach (var fd in fds)
            {
                string target;
                try { target = new FileInfo(fd).LinkTarget; } catch { continue; }
                // Pipes, sockets and the like are not files; nor is what lies under /proc, /sys and /dev
                // (except /dev/shm, a folder like any other).
                if (target == null || !target.StartsWith("/")) continue;
                // (.NET's own memfd for the code it compiles is sparse and huge; any other memfd is read.)
                if (target.StartsWith("/proc/") || target.StartsWith("/sys/") || (target.StartsWith("/dev/") && !target.StartsWith("/dev/shm/")) || target.StartsWith("/memfd:doublemapper")) continue;
                var stream = OpenRegular(fd);
                if (stream == null) continue;
                lock (gate) fdFiles.Add(target);
                string key = FileKey("/proc/" + pid + "/fdinfo/" + Path.GetFileName(fd)) ?? fd + "|" + target;
                using (stream) ScanFurther(key, stream, fd + " (" + target + ")", IsPartial(target));
            }
        }

        // ---- watched folders --------------------------------------------------------------------------------

        /// <summary>Every file that appears in the folder from now on is opened at once, and held.</summary>
        public void Watch(string folder, bool recursive)
        {
            var w = new FileSystemWatcher(folder)
            {
                IncludeSubdirectories = recursive,
                NotifyFilter = NotifyFilters.FileName,
                InternalBufferSize = 64 * 1024,
            };
            w.Created += (s, e) => Hold(e.FullPath);
            w.Renamed += (s, e) => { if (!held.ContainsKey(e.OldFullPath)) Hold(e.FullPath); };
            w.Error += (s, e) => Report("the watcher of " + folder + " failed: " + e.GetException().Message);
            watching = true;
            w.EnableRaisingEvents = true;
            lock (gate) watchers.Add(w);
        }

        void Hold(string path)
        {
            if (!watching) return;
            var stream = OpenRegular(path);
            if (stream == null) return;
            string key = held.ContainsKey(path) ? path + "#" + Interlocked.Increment(ref heldCount) : path;
            held[key] = stream;
            lock (gate) watched.Add(path);
        }

        /// <summary>Reads what the held files hold beyond the last read (they may be deleted by now).</summary>
        public void ScanHeld()
        {
            foreach (var pair in held)
            {
                lock (pair.Value)
                {
                    try
                    {
                        string key = FileKey("/proc/self/fdinfo/" + pair.Value.SafeFileHandle.DangerousGetHandle()) ?? "held|" + pair.Key;
                        ScanFurther(key, pair.Value, pair.Key + " (caught by the watch)", IsPartial(pair.Key));
                    }
                    catch (ObjectDisposedException) { }
                }
            }
        }

        /// <summary>Stops watching, reads the held files one last time, and lets go of them.</summary>
        public void StopWatching()
        {
            stopReading = true;
            if (reader != null) { reader.Join(); reader = null; }
            watching = false;
            if (fanotify >= 0) { close(fanotify); fanotify = -1; }
            lock (gate) { foreach (var w in watchers) w.Dispose(); watchers.Clear(); }
            ScanHeld();
            foreach (var pair in held) pair.Value.Dispose();
            held.Clear();
        }

        // ---- fanotify: every file written and closed, with a descriptor that keeps it readable -------------

        [DllImport("libc", SetLastError = true)] static extern int fanotify_init(uint flags, uint eventFlags);
        [DllImport("libc", SetLastError = true)] static extern int fanotify_mark(int fd, uint flags, ulong mask, int dirfd, string path);
        [DllImport("libc", SetLastError = true)] static extern IntPtr read(int fd, byte[] buffer, UIntPtr count);
        [DllImport("libc", SetLastError = true)] static extern int close(int fd);
        [DllImport("libc", SetLastError = true)] static extern int poll([In, Out] PollFd[] fds, UIntPtr count, int timeout);
        [StructLayout(LayoutKind.Sequential)] struct PollFd { public int Fd; public short Events; public short Revents; }
        const uint FAN_CLOEXEC = 0x1, FAN_NONBLOCK = 0x2, FAN_MARK_ADD = 0x1, FAN_MARK_MOUNT = 0x10;
        const ulong FAN_CLOSE_WRITE = 0x8, FAN_Q_OVERFLOW = 0x4000;
        const uint O_CLOEXEC = 0x80000;
        int fanotify = -1;
        Thread reader;
        string[] roots;
        int[] ours, notOurs;

        /// <summary>True while fanotify watches (WatchWrites found it available).</summary>
        public bool Fanotify { get { return fanotify >= 0; } }

        /// <summary>
        /// With fanotify (CAP_SYS_ADMIN): every file written and closed on the file systems of `roots` from now
        /// on is held open, when the process that wrote it is one of `ours` or descends from one (and not from
        /// one of `notOurs`), or, when that process has gone already, when the file lies under a root. A file
        /// deleted at once is still read. False when fanotify is not available: use Watch instead.
        /// </summary>
        public bool WatchWrites(string[] roots, int[] ours, int[] notOurs)
        {
            int fd = fanotify_init(FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_CLOEXEC);
            if (fd < 0) return false;
            foreach (var root in roots)
            {
                if (fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_CLOSE_WRITE, -100, root) < 0)
                {
                    close(fd);
                    return false;
                }
            }
            this.roots = Array.ConvertAll(roots, r => r.TrimEnd('/') + "/");
            this.ours = ours;
            this.notOurs = notOurs;
            fanotify = fd;
            watching = true;
            reader = new Thread(ReadWrites) { IsBackground = true, Name = "fanotify" };
            reader.Start();
            return true;
        }

        volatile bool stopReading;

        void ReadWrites()
        {
            var buffer = new byte[64 * 1024];
            var fds = new[] { new PollFd { Fd = fanotify, Events = 1 } };
            // Until asked to stop, and then once more: what was written before the stop is all read.
            for (bool last = false; !last;)
            {
                last = stopReading;
                poll(fds, (UIntPtr)1, last ? 0 : 50);
                DrainEvents(fanotify, buffer, (mask, fd, pid) =>
                {
                    if ((mask & FAN_Q_OVERFLOW) != 0) Report("the file-write watch overflowed: writes went unread");
                    if (fd >= 0) Written(fd, pid);
                });
            }
        }

        /// <summary>Reads the fanotify events waiting on `source` (struct fanotify_event_metadata: event_len,
        /// vers/reserved/metadata_len, mask, fd, pid), each to `onEvent(mask, fd, pid)`.</summary>
        static void DrainEvents(int source, byte[] buffer, Action<ulong, int, int> onEvent)
        {
            while (true)
            {
                long n = (long)read(source, buffer, (UIntPtr)buffer.Length);
                if (n <= 0) return;
                for (int at = 0; at + 24 <= n;)
                {
                    int length = BitConverter.ToInt32(buffer, at);
                    onEvent(BitConverter.ToUInt64(buffer, at + 8), BitConverter.ToInt32(buffer, at + 16), BitConverter.ToInt32(buffer, at + 20));
                    if (length <= 0) break;
                    at += length;
                }
            }
        }

        void Written(int fd, int pid)
        {
            string path;
            try { path = new FileInfo("/proc/self/fd/" + fd).LinkTarget ?? ""; } catch { path = ""; }
            if (path.EndsWith(" (deleted)")) path = path.Substring(0, path.Length - 10);
            bool? mine = Ours(pid);
            bool keep = mine == true || (mine == null && Array.Exists(roots, r => path.StartsWith(r)));
            if (!keep) { close(fd); return; }
            var stream = new FileStream(new SafeFileHandle((IntPtr)fd, true), FileAccess.Read, 1);
            string key = held.ContainsKey(path) ? path + "#" + Interlocked.Increment(ref heldCount) : path;
            held[key] = stream;
            lock (gate) watched.Add(path);
        }

        /// <summary>True: one of ours (or a descendant); false: another's; null: gone, unknown.</summary>
        bool? Ours(int pid)
        {
            for (int depth = 0; depth < 32; depth++)
            {
                if (Array.IndexOf(notOurs, pid) >= 0) return false;
                if (Array.IndexOf(ours, pid) >= 0) return true;
                string stat;
                try { stat = File.ReadAllText("/proc/" + pid + "/stat"); } catch { return depth == 0 ? (bool?)null : false; }
                pid = int.Parse(stat.Substring(stat.LastIndexOf(')') + 2).Split(' ')[1]);
                if (pid <= 1) return false;
            }
            return false;
        }

        // ---- fanotify: each Node process held, as it opens the module's script, until its start is read ------

        [DllImport("libc", SetLastError = true)] static extern IntPtr write(int fd, byte[] buffer, UIntPtr count);
        const uint FAN_CLASS_CONTENT = 0x4;
        const ulong FAN_OPEN_PERM = 0x10000;
        int starts = -1;
        Thread startReader;
        volatile bool stopStarts;
        int startsSeen;

        /// <summary>How many processes (other than this one) were read as they opened the watched script.</summary>
        public int StartsSeen { get { return startsSeen; } }

        /// <summary>
        /// With fanotify permission events (CAP_SYS_ADMIN): every process that opens `script` waits at that
        /// open until its command line and environment are read. False when not available.
        /// </summary>
        public bool WatchStarts(string script)
        {
            int fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_CLOEXEC);
            if (fd < 0) return false;
            if (fanotify_mark(fd, FAN_MARK_ADD, FAN_OPEN_PERM, -100, script) < 0) { close(fd); return false; }
            starts = fd;
            startReader = new Thread(ReadStarts) { IsBackground = true, Name = "fanotify starts" };
            startReader.Start();
            return true;
        }

        void ReadStarts()
        {
            var buffer = new byte[16 * 1024];
            var fds = new[] { new PollFd { Fd = starts, Events = 1 } };
            int self = Environment.ProcessId;
            while (!stopStarts)
            {
                poll(fds, (UIntPtr)1, 50);
                DrainEvents(starts, buffer, (mask, fd, pid) =>
                {
                    if (fd < 0) return;
                    if (pid != self)
                    {
                        Interlocked.Increment(ref startsSeen);
                        foreach (var file in new[] { "cmdline", "environ" })
                        {
                            try
                            {
                                byte[] bytes = File.ReadAllBytes("/proc/" + pid + "/" + file);
                                ScanBytes(bytes, 0, bytes.Length, "/proc/" + pid + "/" + file + " (as it started)");
                            }
                            catch (IOException) { Report("the start of process " + pid + " could not be read"); }
                            catch (UnauthorizedAccessException) { Report("the start of process " + pid + " could not be read"); }
                            // Anything else is reported too, never thrown: this thread must live to let every
                            // held process go on (a dead one would leave each later Node start waiting).
                            catch (Exception e) { Report("the start of process " + pid + " could not be scanned: " + e.Message); }
                        }
                    }
                    // Let it go on: struct fanotify_response { s32 fd; u32 response = FAN_ALLOW }.
                    if ((mask & FAN_OPEN_PERM) != 0)
                    {
                        var answer = new byte[8];
                        BitConverter.GetBytes(fd).CopyTo(answer, 0);
                        BitConverter.GetBytes(1u).CopyTo(answer, 4);
                        write(starts, answer, (UIntPtr)8);
                    }
                    close(fd);
                });
            }
        }

        /// <summary>Stops holding processes at their start (any still waiting go on).</summary>
        public void StopStarts()
        {
            stopStarts = true;
            if (startReader != null) { startReader.Join(); startReader = null; }
            if (starts >= 0) { close(starts); starts = -1; }
        }

        public void Dispose() { StopStarts(); StopWatching(); }
    }
}
