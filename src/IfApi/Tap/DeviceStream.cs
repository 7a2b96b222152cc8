using System.Runtime.CompilerServices;
using IfApi.Frames.Wire;
using Microsoft.AspNetCore.Http.Features;

namespace IfApi.Tap;

/// <summary>
/// The upgraded connection under a tap's WebSocket, with writes taken one at a time. The WebSocket
/// writes its control frames (pongs, the close) through it, each in one write; the session's writer
/// writes many data frames at once, already framed (<see cref="WebSocketFrames"/>), in one write
/// and so one send on the socket, where the WebSocket would send each frame alone.
/// </summary>
internal sealed class DeviceStream(Stream inner) : Stream
{
    private readonly SemaphoreSlim _writing = new(1, 1);

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => inner.ReadAsync(buffer, ct);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => inner.ReadAsync(buffer, offset, count, ct);

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    // Pooled: a write that waits for the socket (a client reading slowly) would box its state each time.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        await _writing.WaitAsync(ct);
        try
        {
            await inner.WriteAsync(buffer, ct);
        }
        finally
        {
            _writing.Release();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override async Task FlushAsync(CancellationToken ct)
    {
        await _writing.WaitAsync(ct);
        try
        {
            await inner.FlushAsync(ct);
        }
        finally
        {
            _writing.Release();
        }
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            inner.Dispose();
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();

    /// <summary>
    /// Middleware, ahead of the WebSocket middleware (which takes the upgrade feature as the request
    /// arrives): the upgraded connection will be handed out wrapped, for <see cref="Of"/> to find.
    /// A WebSocket over HTTP/2 has no upgrade feature and goes unwrapped.
    /// </summary>
    public static Task Intercept(HttpContext http, RequestDelegate next)
    {
        if (http.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade)
        {
            var feature = new Interceptor(upgrade);
            http.Features.Set<IHttpUpgradeFeature>(feature);
            http.Features.Set(feature);
        }
        return next(http);
    }

    /// <summary>The wrapped connection of an accepted WebSocket; null when it went unwrapped.</summary>
    public static DeviceStream? Of(HttpContext http) => http.Features.Get<Interceptor>()?.Stream;

    private sealed class Interceptor(IHttpUpgradeFeature inner) : IHttpUpgradeFeature
    {
        public DeviceStream? Stream { get; private set; }

        public bool IsUpgradableRequest => inner.IsUpgradableRequest;

        public async Task<Stream> UpgradeAsync() => Stream = new DeviceStream(await inner.UpgradeAsync());
    }
}
