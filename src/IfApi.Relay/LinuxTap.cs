using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Text;

namespace IfApi.Relay;

/// <summary>
/// A Linux tap device (<c>/dev/net/tun</c> with <c>IFF_TAP | IFF_NO_PI</c>): each read is one frame
/// the host's stack sent out of the tap, each write one frame it receives. The descriptor is
/// non-blocking so a reader can take every frame waiting, then wait with <see cref="WaitReadable"/>.
/// </summary>
public sealed partial class LinuxTap : IDisposable
{
    private const int ORdWr = 0x2, ONonBlock = 0x800, OCloExec = 0x80000;
    private const nuint TunSetIff = 0x400454ca;      // _IOW('T', 202, int)
    private const nuint TunSetOffload = 0x400454d0;  // _IOW('T', 208, unsigned int)
    private const short IffTap = 0x0002, IffNoPi = 0x1000, IffVnetHdr = 0x4000;
    private const uint TunFCsum = 0x01, TunFTso4 = 0x02, TunFTso6 = 0x04;
    private const int IfNameSize = 16, IfReqSize = 40;
    private const short PollIn = 0x1;
    private const int EAgain = 11, EIntr = 4, EIo = 5, EInval = 22;

    private readonly int _fd;

    private LinuxTap(int fd, string name, bool offload) => (_fd, Name, Offload) = (fd, name, offload);

    /// <summary>
    /// Whether every read and write starts with a virtio-net header (<see cref="VirtioNet"/>), and
    /// the host may hand over TCP segments of up to 64 KB and leave checksums to this side.
    /// </summary>
    public bool Offload { get; }

    /// <summary>The device's name as the kernel gave it (a <c>%d</c> in the name asked for is filled in).</summary>
    public string Name { get; }

    /// <summary>Creates (or attaches to) the tap <paramref name="name"/>; it lasts while this descriptor is open.</summary>
    public static LinuxTap Open(string name, bool offload)
    {
        if (Encoding.UTF8.GetByteCount(name) >= IfNameSize)
            throw new ArgumentException($"a Linux interface name is at most {IfNameSize - 1} bytes: '{name}'", nameof(name));
        var fd = open("/dev/net/tun", ORdWr | ONonBlock | OCloExec);
        if (fd < 0)
            throw new Win32Exception(Marshal.GetLastPInvokeError(), "cannot open /dev/net/tun (root or CAP_NET_ADMIN is needed)");
        var ifr = new byte[IfReqSize];
        Encoding.UTF8.GetBytes(name, ifr);
        BitConverter.TryWriteBytes(ifr.AsSpan(IfNameSize), (short)(IffTap | IffNoPi | (offload ? IffVnetHdr : 0)));
        if (ioctl(fd, TunSetIff, ref ifr[0]) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            close(fd);
            throw new Win32Exception(errno, $"TUNSETIFF {name}");
        }
        if (offload && ioctl(fd, TunSetOffload, TunFCsum | TunFTso4 | TunFTso6) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            close(fd);
            throw new Win32Exception(errno, $"TUNSETOFFLOAD {name}");
        }
        return new LinuxTap(fd, Encoding.UTF8.GetString(ifr, 0, IfNameSize).TrimEnd('\0'), offload);
    }

    /// <summary>One frame into <paramref name="buffer"/>: its length, or -1 when none is waiting.</summary>
    public int Read(Span<byte> buffer)
    {
        while (true)
        {
            var n = read(_fd, ref MemoryMarshal.GetReference(buffer), (nuint)buffer.Length);
            if (n >= 0)
                return (int)n;
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EAgain)
                return -1;
            if (errno != EIntr)
                throw new Win32Exception(errno, $"read from {Name}");
        }
    }

    /// <summary>
    /// One frame to the host's stack, as if the tap had received it; false when the host refused it
    /// and it was dropped, as a wire would drop it: the tap is down (EIO), its backlog is full
    /// (EAGAIN), or the frame is not one it takes (EINVAL).
    /// </summary>
    public bool Write(ReadOnlySpan<byte> frame)
    {
        while (true)
        {
            if (write(_fd, ref MemoryMarshal.GetReference(frame), (nuint)frame.Length) >= 0)
                return true;
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EIntr)
                continue;
            if (errno is EAgain or EIo or EInval)
                return false;
            throw new Win32Exception(errno, $"write to {Name}");
        }
    }

    /// <summary>Waits until a frame can be read, or <paramref name="timeoutMs"/> passes; false on timeout.</summary>
    public bool WaitReadable(int timeoutMs)
    {
        var p = new PollFd { Fd = _fd, Events = PollIn };
        var n = poll(ref p, 1, timeoutMs);
        if (n < 0 && Marshal.GetLastPInvokeError() != EIntr)
            throw new Win32Exception(Marshal.GetLastPInvokeError(), $"poll on {Name}");
        return n > 0;
    }

    public void Dispose() => close(_fd);

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ioctl(int fd, nuint request, ref byte ifr);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int ioctl(int fd, nuint request, nuint value);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, ref byte buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint write(int fd, ref byte buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int poll(ref PollFd fds, nuint nfds, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
