using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace IfApi;

/// <summary>
/// How the service reads its settings: each section is an options class bound from configuration and
/// checked once at start-up (<c>ValidateOnStart</c>), so a bad value stops the service before it takes
/// a request, with a message that names the key. A value the binder cannot convert at all (a word
/// where a number belongs) stops it with the binder's own message, which names the key and the value:
/// <c>Failed to convert configuration value 'abc' at 'Tap:QueueLength' to type 'System.Int32'</c>.
/// </summary>
internal static class Settings
{
    /// <summary>Binds <typeparamref name="TOptions"/> to a configuration section and checks it with <typeparamref name="TValidation"/> at start-up.</summary>
    public static OptionsBuilder<TOptions> AddSettings<TOptions, TValidation>(this IServiceCollection services, string section)
        where TOptions : class
        where TValidation : class, IValidateOptions<TOptions>
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, TValidation>());
        return services.AddOptions<TOptions>().BindConfiguration(section).ValidateOnStart();
    }

    /// <summary>
    /// Checks every setting now, before the pipeline is built: building it resolves services that read
    /// settings, and the first of those would otherwise fail on its own. The host checks them again as
    /// it starts, from what is already bound.
    /// </summary>
    public static WebApplication CheckSettings(this WebApplication app)
    {
        app.Services.GetRequiredService<IStartupValidator>().Validate();
        return app;
    }

    /// <summary>A validator's answer: every failure given (null for a check that passed), each naming its key.</summary>
    public static ValidateOptionsResult Check(params string?[] failures) =>
        failures.OfType<string>().ToList() is { Count: > 0 } failed ? ValidateOptionsResult.Fail(failed) : ValidateOptionsResult.Success;
}
