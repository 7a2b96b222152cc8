using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace IfApi;

/// <summary>
/// The most a request body may carry (<c>Kestrel:Limits:MaxRequestBodySize</c>, default 1 MiB: the
/// largest frame is 64 KiB, and no JSON body here needs more). Past it, 413 problem+json. Tap
/// devices are not bodies: their messages are read a frame's length at a time, whatever their size.
/// </summary>
public static class RequestLimits
{
    public const long DefaultMaxRequestBodySize = 1024 * 1024;

    public static WebApplicationBuilder AddIfRequestLimits(this WebApplicationBuilder builder)
    {
        var configured = builder.Configuration["Kestrel:Limits:MaxRequestBodySize"];
        var limit = string.IsNullOrEmpty(configured) ? DefaultMaxRequestBodySize
            : long.TryParse(configured, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= 1 ? n
            : throw new InvalidOperationException($"Kestrel:Limits:MaxRequestBodySize '{configured}' is not a whole number of bytes, at least 1");
        builder.Services.Configure<KestrelServerOptions>(o => o.Limits.MaxRequestBodySize = limit);
        return builder;
    }
}
