using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace IfApi;

/// <summary>
/// The most a request body may carry (<c>Kestrel:Limits:MaxRequestBodySize</c>, default 1 MiB: the
/// largest frame is 64 KiB, and no JSON body here needs more). Past it, 413 problem+json. Tap
/// devices are not bodies: their messages are read a frame's length at a time, whatever their size.
/// </summary>
public sealed class RequestLimitsOptions
{
    /// <summary>Kestrel's own section, which Kestrel does not bind its limits from by itself.</summary>
    public const string Section = "Kestrel:Limits";
    public const long DefaultMaxRequestBodySize = 1024 * 1024;

    public long MaxRequestBodySize { get; set; } = DefaultMaxRequestBodySize;
}

internal sealed class RequestLimitsOptionsValidation : IValidateOptions<RequestLimitsOptions>
{
    public ValidateOptionsResult Validate(string? name, RequestLimitsOptions options) => Settings.Check(
        options.MaxRequestBodySize >= 1 ? null
            : $"Kestrel:Limits:MaxRequestBodySize '{options.MaxRequestBodySize}' is not a whole number of bytes, at least 1");
}

public static class RequestLimits
{
    public static WebApplicationBuilder AddIfRequestLimits(this WebApplicationBuilder builder)
    {
        builder.Services.AddSettings<RequestLimitsOptions, RequestLimitsOptionsValidation>(RequestLimitsOptions.Section);
        builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<RequestLimitsOptions>>((kestrel, limits) =>
            kestrel.Limits.MaxRequestBodySize = limits.Value.MaxRequestBodySize);
        return builder;
    }
}
