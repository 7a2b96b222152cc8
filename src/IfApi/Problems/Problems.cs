using System.Diagnostics;
using System.Text;
using System.Text.Json;
using IfApi.Domain;
using IfApi.Store;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace IfApi.Problems;

/// <summary>
/// The one place an errno becomes HTTP (SPEC §3). Every error leaves as RFC 9457 problem+json with
/// <c>errno</c> and, where one applies, <c>ioctl</c>.
/// </summary>
public static class Problems
{
    public static int Status(Errno errno) => errno switch
    {
        Errno.EINVAL or Errno.ENAMETOOLONG => StatusCodes.Status400BadRequest,
        Errno.EAUTH or Errno.ENEEDAUTH => StatusCodes.Status401Unauthorized,
        Errno.EPERM => StatusCodes.Status403Forbidden,
        Errno.ENXIO or Errno.ENOENT => StatusCodes.Status404NotFound,
        Errno.EEXIST or Errno.EBUSY or Errno.ENOSPC or Errno.EHOSTDOWN => StatusCodes.Status409Conflict,
        Errno.EOPNOTSUPP => StatusCodes.Status422UnprocessableEntity,
        Errno.ENOBUFS => StatusCodes.Status410Gone,
        Errno.ENFILE or Errno.EAGAIN => StatusCodes.Status503ServiceUnavailable,
        Errno.ESTALE => StatusCodes.Status412PreconditionFailed,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static string Title(Errno errno) => errno switch
    {
        Errno.EPERM => "Operation not permitted",
        Errno.ENOENT => "No such file or directory",
        Errno.ENXIO => "Device not configured",
        Errno.EBUSY => "Device busy",
        Errno.EEXIST => "File exists",
        Errno.EINVAL => "Invalid argument",
        Errno.ENOSPC => "No space left on device",
        Errno.ENAMETOOLONG => "File name too long",
        Errno.EOPNOTSUPP => "Operation not supported",
        Errno.EHOSTDOWN => "Host is down",
        Errno.ENOBUFS => "No buffer space available",
        Errno.EAUTH => "Authentication error",
        Errno.ENEEDAUTH => "Need authenticator",
        Errno.ENFILE => "Too many open files in system",
        Errno.ESTALE => "Stale NFS file handle",
        Errno.EAGAIN => "Resource temporarily unavailable",
        _ => errno.ToString(),
    };

    /// <summary>The errno an error status means when nothing more specific is known (routing, content negotiation).</summary>
    public static Errno? ErrnoForStatus(int status) => status switch
    {
        400 or 411 or 413 or 414 or 415 or 431 => Errno.EINVAL,
        401 => Errno.ENEEDAUTH,
        403 => Errno.EPERM,
        404 => Errno.ENOENT,
        405 => Errno.EOPNOTSUPP,
        409 => Errno.EEXIST,
        412 => Errno.ESTALE,
        _ => null,
    };

    public static IServiceCollection AddIfProblems(this IServiceCollection services)
    {
        services.AddProblemDetails(o => o.CustomizeProblemDetails = ctx =>
        {
            var p = ctx.ProblemDetails;
            p.Instance ??= ctx.HttpContext.Request.Path;
            p.Extensions["requestId"] = ctx.HttpContext.TraceIdentifier; // X-Request-ID
            if (!p.Extensions.ContainsKey("errno") && ErrnoForStatus(p.Status ?? 0) is { } errno)
            {
                p.Extensions["errno"] = errno.ToString();
                p.Type = TypeFor(errno);
            }
        });
        services.AddSingleton<IProblemDetailsWriter, ProblemJsonWriter>(); // after the default writer: only when it declines
        services.AddExceptionHandler<ErrnoExceptionHandler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return services;
    }

    public static WebApplication UseIfProblems(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.Use(RefuseUnknownCharsets);
        return app;
    }

    /// <summary>
    /// A JSON body in a charset no encoding is known for cannot be read: 415 (EINVAL), as for any body
    /// the service cannot read. Left to the endpoint, binding would throw InvalidOperationException, a 500.
    /// </summary>
    private static Task RefuseUnknownCharsets(HttpContext http, RequestDelegate next)
    {
        if (http.GetEndpoint()?.Metadata.GetMetadata<IAcceptsMetadata>() is not null // a body it reads; others ignore theirs
            && http.Request.HasJsonContentType()
            && MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var type)
            && type.Charset is { Length: > 0 } charset
            && !IsKnownEncoding(charset.ToString().Trim('"')))
            throw new BadHttpRequestException($"the body's charset '{charset}' is not an encoding this service knows; send UTF-8",
                StatusCodes.Status415UnsupportedMediaType);
        return next(http);
    }

    private static bool IsKnownEncoding(string name)
    {
        try
        {
            _ = Encoding.GetEncoding(name);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    internal static string TypeFor(Errno errno) => $"urn:ifapi:errno:{errno}";

    /// <summary>
    /// The problem an exception is for the client: an errno refusal, a body or query it could not
    /// read, or a problem made already (<see cref="ProblemException"/>); null for a failure of the
    /// service's own.
    /// </summary>
    public static ProblemDetails? From(Exception exception)
    {
        switch (exception)
        {
            case ProblemException e:
                return e.Problem;
            case IfError { Errno: Errno.EAGAIN } e:
                return For(e.Errno, e.Message + "; retry later", e.Ioctl);
            case IfError e:
                return For(e.Errno, e.Message, e.Ioctl);
            case BadHttpRequestException e:
                var problem = For(Errno.EINVAL, e.InnerException is JsonException j ? $"{e.Message} {j.Message}" : e.Message, null); // names the JSON path that was wrong
                problem.Status = e.StatusCode is >= 400 and < 500 ? e.StatusCode : 400;
                return problem;
            case JsonException e:
                return For(Errno.EINVAL, $"malformed JSON: {e.Message}", null);
            default:
                return null;
        }
    }

    internal static ProblemDetails For(Errno errno, string detail, string? ioctl)
    {
        var p = new ProblemDetails { Status = Status(errno), Title = Title(errno), Detail = detail, Type = TypeFor(errno) };
        p.Extensions["errno"] = errno.ToString();
        if (ioctl is not null)
            p.Extensions["ioctl"] = ioctl;
        return p;
    }
}

/// <summary>A refusal that is a problem already (one operation's of a transaction, with where it was).</summary>
public sealed class ProblemException(ProblemDetails problem) : Exception(problem.Detail)
{
    public ProblemDetails Problem { get; } = problem;
}

/// <summary>Turns every exception into a problem: errno refusals, bad input, an unreachable store, and the rest.</summary>
internal sealed class ErrnoExceptionHandler(IProblemDetailsService problems, StoreOptions store, ILogger<ErrnoExceptionHandler> log) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        if (exception is OperationCanceledException && http.RequestAborted.IsCancellationRequested)
            return true; // the client went away; nobody is left to answer
        if (exception is IfError { Errno: Errno.EAGAIN } unavailable)
            log.LogWarning(unavailable.InnerException, "store unavailable: {Message}", unavailable.Message);
        var problem = Problems.From(exception);
        if (problem is null)
        {
            log.LogError(exception, "unhandled error");
            problem = new ProblemDetails { Status = 500, Title = "Internal Server Error", Detail = "the service failed; the change was rolled back", Type = "urn:ifapi:internal" };
        }
        if (problem.Status == StatusCodes.Status503ServiceUnavailable) // a state to wait out: the store, or a place for a device
            http.Response.Headers.RetryAfter = store.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        http.Response.StatusCode = problem.Status ?? 500;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = http, ProblemDetails = problem, Exception = exception });
    }

}

/// <summary>
/// Every error is problem+json (SPEC §3), whatever the request's Accept says. The default writer
/// declines a request that accepts only other types, which left a 4xx without a body, or turned an
/// exception's 404 into a 500; this writer, registered after it, answers for those.
/// </summary>
internal sealed class ProblemJsonWriter(IOptions<ProblemDetailsOptions> options) : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => true;

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var http = context.HttpContext;
        var p = context.ProblemDetails;
        p.Status ??= http.Response.StatusCode;
        p.Title ??= ReasonPhrases.GetReasonPhrase(p.Status.Value);
        p.Extensions.TryAdd("traceId", Activity.Current?.Id ?? http.TraceIdentifier);
        options.Value.CustomizeProblemDetails?.Invoke(context);
        return new ValueTask(http.Response.WriteAsJsonAsync(p, p.GetType(), options: null, "application/problem+json", http.RequestAborted));
    }
}
